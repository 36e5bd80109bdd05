// Package defaulttransporttest holds the tests that change process-wide
// state: they replace http.DefaultTransport or check for goroutine leaks
// through the pool shared by every client built without WithHTTPClient. A
// package of their own keeps them away from the SDK's parallel tests, and
// they run one after another.
package defaulttransporttest
