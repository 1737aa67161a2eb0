package scheduler

// Shared with the external test package (scheduler_test), whose tests use the real API server.
var RL = rl
