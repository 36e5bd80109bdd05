package defaulttransporttest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	peliqan "github.com/peliqan-community/peliqan-go"
)

// None of these tests is parallel: they change or observe process-wide
// state.

// countingTransport answers every request with an empty JSON list.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`[]`)), ContentLength: 2, Request: r}, nil
}

func TestConstructorsUseAReplacedDefaultTransportWithoutPanicking(t *testing.T) {
	orig := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = orig })
	ct := &countingTransport{}
	http.DefaultTransport = ct // what httpmock.Activate, otelhttp or a proxy shim do

	require.NotPanics(t, func() {
		p, err := peliqan.NewPartnerClient("partner-token-0123456789", peliqan.WithBaseURL("https://api.example"))
		require.NoError(t, err)
		_, err = p.ListSubAccounts(context.Background(), nil)
		require.NoError(t, err)
		s, err := peliqan.NewSubAccountClient("tenant-token-0123456789", peliqan.WithBaseURL("https://api.example"))
		require.NoError(t, err)
		_, err = s.ListServers(context.Background())
		require.NoError(t, err)
	})
	assert.EqualValues(t, 2, ct.n.Load(), "the process's replacement carried both calls")
}

func TestNoGoroutineLeftAfterReleasingTheSharedPool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[]`)
	}))
	defer srv.Close()
	ignore := goleak.IgnoreCurrent() // the test server's own accept loop

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := peliqan.NewSubAccountClient(fmt.Sprintf("stored-token-%02d-abcdefgh", i), peliqan.WithBaseURL(srv.URL))
			if assert.NoError(t, err) {
				_, err = s.ListServers(context.Background())
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()

	peliqan.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}
