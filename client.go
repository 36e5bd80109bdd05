package peliqan

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// DefaultBaseURL is Peliqan's EU service. Other regions, whitelabel
// subdomains and staging hosts are set with WithBaseURL.
const DefaultBaseURL = "https://app.eu.peliqan.io"

const (
	defaultTimeout          = 30 * time.Second
	defaultMaxResponseBytes = 64 << 20
)

// Option configures a client at construction. Each option validates its
// input; constructors return the first error (matching ErrInvalidArgument)
// and never panic or touch the network.
type Option func(*config) error

type config struct {
	baseURL     *url.URL
	httpClient  *http.Client
	retry       RetryPolicy
	logger      *slog.Logger
	userAgent   string
	timeout     time.Duration
	timeoutSet  bool
	maxResponse int64
	hook        *CallHook
	limiter     Limiter
}

// WithBaseURL sets the service's address: a region, a whitelabel subdomain
// (https://acme.peliqan.io), a staging host, or a fake. A base path is kept.
// Plain http:// is refused unless the host is loopback, because the token
// would cross the network in clear text.
func WithBaseURL(raw string) Option {
	return func(c *config) error {
		u, err := parseBaseURL(raw)
		if err != nil {
			return err
		}
		c.baseURL = u
		return nil
	}
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, invalidArg("base URL", "%v", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, invalidArg("base URL", "scheme must be https (got %q)", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, invalidArg("base URL", "has no host")
	case u.User != nil:
		return nil, invalidArg("base URL", "must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, invalidArg("base URL", "must not have a query or fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, invalidArg("base URL", "http:// is only allowed for loopback hosts; use https://")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, invalidArg("base URL", "path has a dot segment")
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// isLoopback accepts "localhost" itself and loopback IP literals. Names
// under .localhost are refused: whether they resolve to loopback is up to
// the resolver, and a token must not cross the network in clear text.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithHTTPClient sends requests through a copy of hc (the original is never
// mutated): its Transport (proxies, TLS, tracing wrappers), Jar and
// CheckRedirect are used. If hc.Timeout is set and WithTimeout is not given,
// it becomes the per-attempt timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return invalidArg("WithHTTPClient", "nil *http.Client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if err := p.validate(); err != nil {
			return err
		}
		c.retry = p
		return nil
	}
}

// WithLogger sends the client's request and retry log lines to l (requests
// at Debug, retries at Info). Without it the client is silent. Tokens are
// never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalidArg("WithLogger", "nil *slog.Logger")
		}
		c.logger = l
		return nil
	}
}

// WithUserAgent appends ua to the User-Agent "peliqan-go/<Version>", so
// Peliqan can tell your integration apart.
func WithUserAgent(ua string) Option {
	return func(c *config) error {
		ua = strings.TrimSpace(ua)
		if ua == "" {
			return invalidArg("WithUserAgent", "is empty")
		}
		for _, r := range ua {
			if r < 0x20 || r == 0x7f {
				return invalidArg("WithUserAgent", "has control characters")
			}
		}
		c.userAgent = ua
		return nil
	}
}

// WithTimeout bounds each attempt (connecting, sending, and reading the whole
// answer); the context bounds the whole call, retries and waits included.
// For streamed rows it is an idle timeout once the answer has started: it
// runs only while the SDK waits for the server's next bytes.
// 0 turns the per-attempt timeout off. The default is 30 s.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalidArg("WithTimeout", "negative duration %s", d)
		}
		c.timeout, c.timeoutSet = d, true
		return nil
	}
}

// WithMaxResponseBytes caps the size of a success body that is read whole
// (everything but streamed rows). A larger body fails with a *DecodeError
// matching ErrResponseTooLarge. The default is 64 MiB.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return invalidArg("WithMaxResponseBytes", "must be positive (got %d)", n)
		}
		c.maxResponse = n
		return nil
	}
}

// newCore applies the options and builds the shared engine. No I/O.
func newCore(tokenName, token string, opts []Option) (*core, error) {
	if err := checkToken(tokenName, token); err != nil {
		return nil, err
	}
	cfg := config{retry: DefaultRetryPolicy(), timeout: defaultTimeout, maxResponse: defaultMaxResponseBytes}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.baseURL == nil {
		cfg.baseURL, _ = parseBaseURL(DefaultBaseURL)
	}
	var hc http.Client
	if cfg.httpClient != nil {
		hc = *cfg.httpClient
		if !cfg.timeoutSet && hc.Timeout > 0 {
			cfg.timeout = hc.Timeout
		}
	}
	base := hc.Transport
	if base == nil {
		base = defaultRoundTripper()
	}
	hc.Transport = &attemptTransport{base: base}
	hc.Timeout = 0 // per attempt, in attemptTransport: a call may raise it
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = sameHostRedirects
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	ua := "peliqan-go/" + Version
	if cfg.userAgent != "" {
		ua += " " + cfg.userAgent
	}
	c := &core{
		base:        cfg.baseURL.Scheme + "://" + cfg.baseURL.Host + cfg.baseURL.EscapedPath(),
		policy:      cfg.retry,
		logger:      cfg.logger,
		userAgent:   ua,
		timeout:     cfg.timeout,
		maxResponse: cfg.maxResponse,
		tokens:      &staticToken{tok: token},
		hook:        cfg.hook,
		limiter:     cfg.limiter,
		host:        cfg.baseURL.Hostname(),
		port:        urlPort(cfg.baseURL),
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:   &hc,
		RetryMax:     cfg.retry.MaxAttempts - 1,
		RetryWaitMin: cfg.retry.MinWait,
		RetryWaitMax: cfg.retry.MaxWait,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: errorHandler,
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			if st := stateFrom(r.Context()); st != nil {
				st.attempts++
				if st.hook != nil && !st.lastEnd.IsZero() {
					st.retryWait += time.Since(st.lastEnd)
				}
			}
		},
	}
	return c, nil
}

// urlPort is u's port, or its scheme's default.
func urlPort(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

// sameHostRedirects follows at most 5 redirects, only for GET and HEAD and
// only on the same scheme and host: a redirect elsewhere is returned as the
// 3xx it is rather than followed (Go would drop the token on another host,
// and a redirected POST would silently turn into a GET).
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	first := via[0]
	if len(via) > 5 || (req.Method != http.MethodGet && req.Method != http.MethodHead) ||
		req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}

// PartnerClient calls the Partner API with a partner token: sub-accounts,
// their tokens, integrations and connector definitions. It is immutable and
// safe for concurrent use.
type PartnerClient struct {
	c  *core
	st *partnerState // tenant clients and in-process flights (subaccount.go)
}

// NewPartnerClient returns a client that authenticates with the partner
// token. It does no I/O.
func NewPartnerClient(partnerToken string, opts ...Option) (*PartnerClient, error) {
	c, err := newCore("partner token", partnerToken, opts)
	if err != nil {
		return nil, err
	}
	return &PartnerClient{c: c, st: newPartnerState()}, nil
}

// SubAccountClient calls the tenant API of one sub-account (one of your
// customers) with that tenant's identity token: connections, syncs, data and
// scripts. It is immutable and safe for concurrent use.
type SubAccountClient struct {
	c *core
}

// NewSubAccountClient returns a tenant client for a token you already hold
// (from SubAccountToken, or stored). It does no I/O. A client made this way
// cannot refresh its token: a 401 is returned as ErrUnauthorized.
func NewSubAccountClient(tenantToken string, opts ...Option) (*SubAccountClient, error) {
	c, err := newCore("tenant token", tenantToken, opts)
	if err != nil {
		return nil, err
	}
	return &SubAccountClient{c: c}, nil
}

// Do sends any request through the client's core: same base URL, token,
// retries and typed errors. It is the escape hatch for a route the SDK does
// not have yet, or one whose inferred path turns out wrong.
//
// path is relative to the base URL, already escaped, and may carry a query
// ("/api/servers/12/?x=1"); Peliqan's paths end in "/". body is nil, []byte
// or json.RawMessage (sent as is), an io.Reader (read whole), or a value sent
// as JSON. out is nil, *[]byte or *json.RawMessage (the raw body), or a
// pointer decoded from JSON.
//
// A path that matches a route the SDK knows follows that route's retry flag;
// any other GET, HEAD, PUT or DELETE may be retried, so pass WithoutRetry for
// a GET that triggers work on the server.
func (p *PartnerClient) Do(ctx context.Context, method, path string, body, out any, opts ...RequestOption) error {
	return p.c.doRaw(ctx, method, path, body, out, opts)
}

// Do is PartnerClient.Do for the tenant API.
func (s *SubAccountClient) Do(ctx context.Context, method, path string, body, out any, opts ...RequestOption) error {
	return s.c.doRaw(ctx, method, path, body, out, opts)
}

func (c *core) doRaw(ctx context.Context, method, path string, body, out any, opts []RequestOption) error {
	co, err := applyCallOptions(opts)
	if err != nil {
		return err
	}
	method = strings.ToUpper(strings.TrimSpace(method))
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return invalidArg("method", "unsupported %q", method)
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return invalidArg("path", "must be relative to the base URL and start with one \"/\" (got %q)", path)
	}
	u, err := url.Parse(path)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Fragment != "" {
		return invalidArg("path", "%q is not a relative path", path)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return invalidArg("path", "%q has a dot segment", path)
		}
	}
	req := request{method: method, path: u.EscapedPath(), rawQuery: u.RawQuery}
	classifyRaw(&req, u.Path)
	if body != nil {
		if req.body, err = encodeBody(body); err != nil {
			return err
		}
		req.hasBody = true
	}
	return c.exec(ctx, &req, &co, &call{out: out})
}

// classifyRaw gives a hand-built request the retry and side-effect flags of
// the route it matches. HEAD follows the GET route of its path: the service
// runs the GET view for a HEAD, so a HEAD on syncdb triggers a sync.
func classifyRaw(req *request, path string) {
	method := req.method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if r, _, ok := routes.Match(method, path); ok {
		req.retry, req.sideEffect = r.Retry, r.SideEffect
		if method == req.method {
			req.route = routes.MustLookup(r.Name)
		}
		return
	}
	req.retry = routes.Retryable(req.method, false)
}

// String describes the client without its token.
func (p *PartnerClient) String() string { return "peliqan.PartnerClient{" + p.c.base + "}" }

// LogValue logs the client without its token.
func (p *PartnerClient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client", "partner"), slog.String("base_url", p.c.base))
}

// String describes the client without its token.
func (s *SubAccountClient) String() string { return "peliqan.SubAccountClient{" + s.c.base + "}" }

// LogValue logs the client without its token.
func (s *SubAccountClient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client", "sub-account"), slog.String("base_url", s.c.base))
}

// GoString keeps %#v from printing internals.
func (p *PartnerClient) GoString() string { return p.String() }

// GoString keeps %#v from printing internals.
func (s *SubAccountClient) GoString() string { return s.String() }
