package apiserver

// SetNameSuffix makes generated names end with what next returns instead of random
// characters, until restore is called.
func SetNameSuffix(next func() string) (restore func()) {
	old := nameSuffix.Swap(&next)
	return func() { nameSuffix.Store(old) }
}
