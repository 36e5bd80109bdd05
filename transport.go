package peliqan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// attemptTransport wraps the caller's RoundTripper and applies the rules that
// hold for one attempt of one call (the per-call state rides in the request
// context):
//
//   - the per-attempt timeout, which also covers reading the body, so a slow
//     body is a retryable transport failure rather than a hang;
//   - side-effect GETs are made non-replayable, so net/http does not silently
//     send them again when a reused keep-alive connection fails;
//   - for calls that are not streamed, the body is read here, through the
//     size cap, so a connection reset in the middle of a body is a transport
//     error the retry layer can see (and retry for idempotent routes).
type attemptTransport struct {
	base http.RoundTripper
}

// errBodyTooLarge is the transport-level signal for a success body over the
// cap; the core turns it into a *DecodeError matching ErrResponseTooLarge.
var errBodyTooLarge = errors.New("response body exceeds the client's limit")

// attemptTimeoutError is what an attempt that ran past its timeout fails
// with. It is a net.Error-style timeout and matches ErrTimeout.
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("attempt timed out after %s", e.after)
}
func (e *attemptTimeoutError) Timeout() bool        { return true }
func (e *attemptTimeoutError) Temporary() bool      { return true }
func (e *attemptTimeoutError) Is(target error) bool { return target == ErrTimeout }

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	if st == nil {
		return t.base.RoundTrip(req)
	}
	parent := req.Context()
	ctx, cancel := parent, context.CancelFunc(func() {})
	if st.timeout > 0 {
		ctx, cancel = context.WithTimeout(parent, st.timeout)
	}
	out := req.WithContext(ctx)
	if st.sideEffect && (out.Body == nil || out.Body == http.NoBody) {
		// A non-nil body without GetBody makes the request non-replayable
		// for net/http; an empty one is probed and nothing is sent.
		out.Body = emptyBody{}
		out.GetBody = nil
		out.ContentLength = 0
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		cancel()
		return nil, st.attemptError(parent, ctx, err)
	}
	if !st.buffer {
		resp.Body = &attemptBody{ReadCloser: resp.Body, cancel: cancel, st: st, parent: parent, ctx: ctx}
		return resp, nil
	}
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := int64(errorBodyLimit)
	if success {
		limit = st.maxBody
	}
	data, err := wire.ReadCapped(resp.Body, limit, resp.ContentLength)
	resp.Body.Close()
	cancel()
	switch {
	case errors.Is(err, wire.ErrTooLarge) && !success:
		// An oversized error body is kept, truncated: the status is the news.
	case errors.Is(err, wire.ErrTooLarge):
		return nil, errBodyTooLarge
	case err != nil:
		return nil, st.attemptError(parent, ctx, err)
	}
	resp.Body = &bufferedBody{Reader: bytes.NewReader(data), data: data}
	resp.ContentLength = int64(len(data))
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (t *attemptTransport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// attemptError turns the attempt's own deadline into an attemptTimeoutError,
// and leaves everything else (including the caller's cancellation) alone.
func (st *callState) attemptError(parent, attempt context.Context, err error) error {
	if parent.Err() == nil && attempt.Err() != nil {
		return &attemptTimeoutError{after: st.timeout}
	}
	return err
}

type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

// bufferedBody is a body already read by attemptTransport; the core takes
// data without copying.
type bufferedBody struct {
	*bytes.Reader
	data []byte
}

func (*bufferedBody) Close() error { return nil }

// attemptBody is a streamed body: it keeps the attempt's timeout running
// until it is closed and reports that timeout as such.
type attemptBody struct {
	io.ReadCloser
	cancel      context.CancelFunc
	st          *callState
	parent, ctx context.Context
}

func (b *attemptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.st.attemptError(b.parent, b.ctx, err)
	}
	return n, err
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// drainClose reads what is left of a body (a little, so the connection can
// be reused) and closes it.
func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
