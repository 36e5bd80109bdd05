package peliqan_test

import "net/http"

// mustHandler unwraps a handler constructor's result; the tests that use it
// pass valid arguments.
func mustHandler(h http.Handler, err error) http.Handler {
	if err != nil {
		panic(err)
	}
	return h
}
