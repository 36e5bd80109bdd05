package peliqan

import (
	"net/http"
	"sync"
	"time"
)

// The shared connection pool.
//
// Clients built without WithHTTPClient share one *http.Transport, so a
// backend that makes a client per customer (NewSubAccountClient for each
// stored token, or PartnerClient.SubAccount) reuses keep-alive connections
// across all of them instead of opening a pool per client. It is sized for
// fan-out: enough idle connections per host that ForEachSubAccount,
// ConnectionHealth and publishing at high concurrency do not reconnect
// between waves.
//
// What "release" means: a client owns no connections and has nothing to
// close. Idle connections belong to the pool they were opened in: the
// shared one (release them with CloseIdleConnections, e.g. before a
// goroutine-leak check or at shutdown), or the transport you passed with
// WithHTTPClient (you release those, as its owner). No failed call closes
// idle connections of either: one customer's failure does not cost every
// other call its connection.

const (
	pooledIdlePerHost = 64  // above the concurrency fan-out runs at (32), with room for the partner's own calls
	pooledIdleTotal   = 256 // several hosts (regions, whitelabels) at once
)

var sharedTransport = sync.OnceValue(func() *http.Transport {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone() // keeps the process's proxy and TLS settings
	} else {
		t = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	t.MaxIdleConns = max(t.MaxIdleConns, pooledIdleTotal)
	t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, pooledIdlePerHost)
	if t.IdleConnTimeout == 0 {
		t.IdleConnTimeout = 90 * time.Second
	}
	return t
})

// defaultRoundTripper is what a client built without WithHTTPClient sends
// through. When the process has replaced http.DefaultTransport (a global
// httpmock, an otelhttp wrapper, a proxy shim), that replacement is used as
// it is, because it says how this process wants to reach the network;
// otherwise the shared pool.
func defaultRoundTripper() http.RoundTripper {
	if _, ok := http.DefaultTransport.(*http.Transport); !ok && http.DefaultTransport != nil {
		return http.DefaultTransport
	}
	return sharedTransport()
}

// CloseIdleConnections closes the idle keep-alive connections of the pool
// that clients built without WithHTTPClient share. Connections in use are
// not touched, and later calls open new ones as needed. A transport you
// passed with WithHTTPClient is yours to release.
func CloseIdleConnections() {
	sharedTransport().CloseIdleConnections()
}
