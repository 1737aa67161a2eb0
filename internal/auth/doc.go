// Package auth decides who a request comes from (authentication) and whether they may do what
// they ask (authorization), for the API server's request path.
//
// Authenticators look at one request and either recognise a user, pass (so the next one may
// try), or fail. Authorizers answer one question: may this user do this verb on this resource?
package auth
