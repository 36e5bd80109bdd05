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
//   - the per-attempt timeout: a wall clock until the headers arrive and
//     while a body that is read whole is read, and an idle timeout for a
//     streamed body (it runs only while a Read waits), so a consumer's own
//     time is never counted against the server;
//   - a request the SDK does not retry goes out non-replayable, so net/http
//     cannot silently send it again when a reused keep-alive connection
//     fails;
//   - for calls that are not streamed, the body is read here, through the
//     size cap, so a connection reset in the middle of a body is a transport
//     error the retry layer can see (and retry for idempotent routes).
//
// It deliberately has no CloseIdleConnections: go-retryablehttp calls that
// after every failed call, and one failure must not flush a pool that other
// calls and clients share. Idle connections are released by their owner
// (CloseIdleConnections for the shared pool, the caller for its own
// transport).
type attemptTransport struct {
	base http.RoundTripper
}

// errBodyTooLarge is the transport-level signal for a success body over the
// cap; the core turns it into a *DecodeError matching ErrResponseTooLarge.
var errBodyTooLarge = errors.New("response body exceeds the client's limit")

// errAttemptDeadline is the cancellation cause of an attempt whose own timer
// fired. Deciding "timed out" from the cause, not from ctx.Err() after the
// fact, keeps every other failure (refused, reset, TLS) as what it was.
var errAttemptDeadline = errors.New("attempt deadline exceeded")

// attemptTimeoutError is what an attempt that ran past its timeout fails
// with. It matches ErrTimeout and unwraps to what the transport reported.
type attemptTimeoutError struct {
	after time.Duration
	cause error
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("attempt timed out after %s", e.after)
}
func (e *attemptTimeoutError) Unwrap() error        { return e.cause }
func (e *attemptTimeoutError) Timeout() bool        { return true }
func (e *attemptTimeoutError) Temporary() bool      { return true }
func (e *attemptTimeoutError) Is(target error) bool { return target == ErrTimeout }

// attempt is one try of one call: its context, cancelled with
// errAttemptDeadline when its timer fires.
type attempt struct {
	st     *callState
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // nil without a per-attempt timeout
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	if st == nil {
		return t.base.RoundTrip(req)
	}
	if st.limiter != nil {
		// Before the attempt's clock starts: waiting for our turn is not
		// the server being slow.
		if err := st.limiter.Wait(req.Context()); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	at := &attempt{st: st, ctx: ctx, cancel: cancel}
	if st.timeout > 0 {
		at.timer = time.AfterFunc(st.timeout, func() { cancel(errAttemptDeadline) })
	}
	out := req.WithContext(ctx)
	if !st.retry {
		// net/http replays a request on a reused connection that died when
		// it has no body or a GetBody (GET/HEAD, or any method carrying an
		// Idempotency-Key header). A body without GetBody is never replayed;
		// an empty one is probed and nothing is sent.
		if out.Body == nil || out.Body == http.NoBody {
			out.Body = emptyBody{}
			out.ContentLength = 0
		}
		out.GetBody = nil
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		err = at.fail(err)
		at.end()
		return nil, err
	}
	if !st.buffer {
		// From here on the clock runs only while a Read waits.
		at.pause()
		resp.Body = &attemptBody{ReadCloser: resp.Body, at: at}
		return resp, nil
	}
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := int64(errorBodyLimit)
	if success {
		limit = st.maxBody
	}
	data, err := wire.ReadCapped(resp.Body, limit, resp.ContentLength)
	resp.Body.Close()
	if err != nil && !errors.Is(err, wire.ErrTooLarge) {
		err = at.fail(err)
	}
	at.end()
	switch {
	case errors.Is(err, wire.ErrTooLarge) && !success:
		// An oversized error body is kept, truncated: the status is the news.
	case errors.Is(err, wire.ErrTooLarge):
		return nil, errBodyTooLarge
	case err != nil:
		return nil, err
	}
	bb := &bufferedBody{data: data}
	bb.Reset(data)
	resp.Body = bb
	resp.ContentLength = int64(len(data))
	return resp, nil
}

// fail returns err as the attempt's timeout when the attempt's own timer
// ended it, and unchanged otherwise (the caller's cancellation included). It
// must run before end, which cancels the context for good.
func (a *attempt) fail(err error) error {
	if context.Cause(a.ctx) == errAttemptDeadline {
		return &attemptTimeoutError{after: a.st.timeout, cause: err}
	}
	return err
}

func (a *attempt) pause() {
	if a.timer != nil {
		a.timer.Stop()
	}
}

func (a *attempt) resume() {
	if a.timer != nil {
		a.timer.Reset(a.st.timeout)
	}
}

func (a *attempt) end() {
	a.pause()
	a.cancel(context.Canceled)
}

type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

// bufferedBody is a body already read by attemptTransport; the core takes
// data without copying.
type bufferedBody struct {
	bytes.Reader
	data []byte
}

func (*bufferedBody) Close() error { return nil }

// attemptBody is a streamed body. Its attempt's timer runs only while a Read
// waits for the server: "no byte for the timeout" fails the read as
// ErrTimeout, while time the consumer spends between reads is its own.
type attemptBody struct {
	io.ReadCloser
	at *attempt
}

func (b *attemptBody) Read(p []byte) (int, error) {
	b.at.resume()
	n, err := b.ReadCloser.Read(p)
	b.at.pause()
	if err != nil && err != io.EOF {
		err = b.at.fail(err)
	}
	return n, err
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.at.end()
	return err
}

// drainClose reads what is left of a body (a little, so the connection can
// be reused) and closes it.
func drainClose(body io.ReadCloser) {
	switch body.(type) {
	case nil:
		return
	case *bufferedBody: // read already; nothing holds a connection
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
