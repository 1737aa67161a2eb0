// Package procmem trims the memory a long-running kijabi process keeps mapped but no longer
// uses once it has started.
package procmem
