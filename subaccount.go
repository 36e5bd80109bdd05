package peliqan

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// SubAccountRef names one sub-account, either by your own customer id
// (ByExternalID) or by Peliqan's account id (ByAccountID). The zero value
// names nothing and is refused with ErrInvalidArgument. Refs are comparable
// and may be used as map keys.
type SubAccountRef struct {
	kind       refKind
	externalID string
	id         ID
}

type refKind uint8

const (
	refNone refKind = iota
	refExternal
	refAccount
)

// ByExternalID refers to a sub-account by the external_id you gave it at
// creation (your own customer id).
func ByExternalID(externalID string) SubAccountRef {
	return SubAccountRef{kind: refExternal, externalID: externalID}
}

// ByAccountID refers to a sub-account by Peliqan's account id (SubAccount.ID).
func ByAccountID(id ID) SubAccountRef {
	return SubAccountRef{kind: refAccount, id: id}
}

// ExternalID returns the external id and true for a ref made by ByExternalID.
func (r SubAccountRef) ExternalID() (string, bool) { return r.externalID, r.kind == refExternal }

// AccountID returns the account id and true for a ref made by ByAccountID.
func (r SubAccountRef) AccountID() (ID, bool) { return r.id, r.kind == refAccount }

// IsZero reports whether r is the zero ref.
func (r SubAccountRef) IsZero() bool { return r.kind == refNone }

// String renders the ref as the query it is sent as: "external_id=wood_123"
// or "account_id=12".
func (r SubAccountRef) String() string {
	switch r.kind {
	case refExternal:
		return "external_id=" + strconv.Quote(r.externalID)
	case refAccount:
		return "account_id=" + r.id.String()
	}
	return "SubAccountRef{}"
}

// validate refuses the zero ref, a blank external id and a non-positive
// account id before any request.
func (r SubAccountRef) validate() error {
	switch r.kind {
	case refExternal:
		return checkExternalID("external_id", r.externalID)
	case refAccount:
		if r.id <= 0 {
			return invalidArg("account_id", "must be a positive id (got %d)", int64(r.id))
		}
		return nil
	}
	return invalidArg("ref", "is the zero SubAccountRef; use ByExternalID or ByAccountID")
}

// query is the ref as the get/identity routes take it.
func (r SubAccountRef) query() url.Values {
	if r.kind == refExternal {
		return url.Values{"external_id": {r.externalID}}
	}
	return url.Values{"account_id": {r.id.String()}}
}

func checkExternalID(name, s string) error {
	if isBlank(s) {
		return invalidArg(name, "is empty")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalidArg(name, "contains control characters")
		}
	}
	return nil
}

// partnerState is the mutable part behind an immutable PartnerClient: the
// cache of tenant clients and the in-process flights of EnsureSubAccount.
type partnerState struct {
	tenants *tenantCache
	ensure  flightGroup[string, ensured]
}

func newPartnerState() *partnerState {
	return &partnerState{tenants: newTenantCache(DefaultTenantCacheSize)}
}

// DefaultTenantCacheSize bounds how many tenant clients (with their identity
// tokens) a PartnerClient keeps. Past it, a rarely used tenant is dropped; a
// client already handed out keeps working, and the next SubAccount call for
// that tenant fetches a new token when it is first used.
const DefaultTenantCacheSize = 10000

// SubAccount returns a client for one tenant: the SDK's "login as" or
// "switch to customer". It does no I/O: the tenant's
// identity token (the non-expiring one, expire=false) is fetched on the
// client's first request, exactly once however many goroutines call at the
// same time, and cached. A token that states an exp is fetched again a
// minute before it (one with an exp centuries away, such as the year 9999,
// counts as non-expiring); if that early fetch fails, the cached token is
// still valid and is used until its exp, the fetch being tried again every
// few seconds. When a tenant request is answered 401, the token is
// fetched again (once, even if many calls failed together) and the request is
// replayed once; a 401 was not acted on by the server, so this holds for
// every method, side-effect GETs included.
//
// The client shares the partner client's transport, retry policy and logger.
// Clients are cached per ref on the PartnerClient, bounded by
// DefaultTenantCacheSize: asking again for the same ref returns the same
// client. ByExternalID("x") and ByAccountID(n) for the same customer are
// different refs and get separate clients and tokens.
//
// An error from fetching the token (the partner token refused, an unknown
// external_id) is returned by the tenant call that needed it.
//
// It takes no context because it does no I/O: the token is fetched by the
// first call that needs it, under that call's context.
func (p *PartnerClient) SubAccount(ref SubAccountRef) (*SubAccountClient, error) {
	if t := p.st.tenants.get(ref); t != nil {
		return t, nil // only valid refs are ever stored
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	return p.st.tenants.getOrCreate(ref, func() *SubAccountClient {
		ts := newTenantTokens(ref, func(ctx context.Context) (*IdentityToken, error) {
			return p.SubAccountToken(ctx, ref, nil)
		})
		return &SubAccountClient{c: p.c.withTokens(ts)}
	}), nil
}

// forgetSubAccount drops the cached client of ref (after a delete).
func (p *PartnerClient) forgetSubAccount(ref SubAccountRef) { p.st.tenants.remove(ref) }

// tenantCache maps refs to tenant clients. Reads are lock-free: each shard
// publishes an immutable snapshot through an atomic pointer, and a writer
// copies its shard's (small) maps under the shard's mutex. Eviction is
// "second chance": a hit sets the entry's used bit, and a full shard drops
// the first entry whose bit is clear, clearing bits as it passes.
type tenantCache struct {
	seed     maphash.Seed
	perShard int
	shards   [tenantShards]tenantShard
}

const tenantShards = 64

type tenantShard struct {
	m  atomic.Pointer[shardMaps]
	mu sync.Mutex
	_  [64 - 16]byte // keep shards on separate cache lines
}

// shardMaps is one shard's snapshot, never changed once published. Tenants
// are kept by external id and by account id in two typed maps: a string or
// an integer key is looked up several times faster than a struct key.
type shardMaps struct {
	ext map[string]*tenantEntry
	acc map[ID]*tenantEntry
}

type tenantEntry struct {
	client *SubAccountClient
	used   atomic.Bool
}

func newTenantCache(size int) *tenantCache {
	per := (size + tenantShards - 1) / tenantShards
	if per < 1 {
		per = 1
	}
	return &tenantCache{seed: maphash.MakeSeed(), perShard: per}
}

func (tc *tenantCache) shard(ref SubAccountRef) *tenantShard {
	var h uint64
	if ref.kind == refExternal {
		h = maphash.String(tc.seed, ref.externalID)
	} else {
		h = uint64(ref.id) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	}
	return &tc.shards[h%tenantShards]
}

func (m *shardMaps) lookup(ref SubAccountRef) *tenantEntry {
	if m == nil {
		return nil
	}
	if ref.kind == refExternal {
		return m.ext[ref.externalID]
	}
	return m.acc[ref.id]
}

func (m *shardMaps) len() int {
	if m == nil {
		return 0
	}
	return len(m.ext) + len(m.acc)
}

// clone copies m (nil gives empty maps) for a writer to change.
func (m *shardMaps) clone() *shardMaps {
	out := &shardMaps{ext: make(map[string]*tenantEntry), acc: make(map[ID]*tenantEntry)}
	if m != nil {
		maps.Copy(out.ext, m.ext)
		maps.Copy(out.acc, m.acc)
	}
	return out
}

func (m *shardMaps) put(ref SubAccountRef, e *tenantEntry) {
	if ref.kind == refExternal {
		m.ext[ref.externalID] = e
	} else {
		m.acc[ref.id] = e
	}
}

func (m *shardMaps) del(ref SubAccountRef) {
	if ref.kind == refExternal {
		delete(m.ext, ref.externalID)
	} else {
		delete(m.acc, ref.id)
	}
}

func (tc *tenantCache) get(ref SubAccountRef) *SubAccountClient {
	e := tc.shard(ref).m.Load().lookup(ref)
	if e == nil {
		return nil
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.client
}

func (tc *tenantCache) getOrCreate(ref SubAccountRef, mk func() *SubAccountClient) *SubAccountClient {
	s := tc.shard(ref)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if e := old.lookup(ref); e != nil {
		return e.client
	}
	next := old.clone()
	for next.len() >= tc.perShard {
		next.evictOne()
	}
	// A new entry starts without its used bit: one that is never asked for
	// again (a ForEachSubAccount scan) goes before the tenants in use.
	e := &tenantEntry{client: mk()}
	next.put(ref, e)
	s.m.Store(next)
	return e.client
}

// evictOne removes one entry whose used bit is clear, clearing the bits of
// the entries it passes; if every bit was set it removes the first entry it
// saw.
func (m *shardMaps) evictOne() {
	var first SubAccountRef
	for k, e := range m.ext {
		if !e.used.Swap(false) {
			delete(m.ext, k)
			return
		}
		if first.IsZero() {
			first = ByExternalID(k)
		}
	}
	for k, e := range m.acc {
		if !e.used.Swap(false) {
			delete(m.acc, k)
			return
		}
		if first.IsZero() {
			first = ByAccountID(k)
		}
	}
	if !first.IsZero() {
		m.del(first)
	}
}

func (tc *tenantCache) remove(ref SubAccountRef) {
	s := tc.shard(ref)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if old.lookup(ref) == nil {
		return
	}
	next := old.clone()
	next.del(ref)
	s.m.Store(next)
}

// len counts the cached tenants (tests).
func (tc *tenantCache) len() int {
	n := 0
	for i := range tc.shards {
		n += tc.shards[i].m.Load().len()
	}
	return n
}

// tenantTokens is the token source of a tenant client made by SubAccount:
// the identity token is fetched on first use and kept; refresh replaces it
// once per stale token, whatever the number of callers.
type tenantTokens struct {
	ref     SubAccountRef
	fetch   func(context.Context) (*IdentityToken, error)
	now     func() time.Time // time.Now; tests step it with the fake's clock
	cur     atomic.Pointer[cachedToken]
	flights flightGroup[struct{}, string]
	// holdUntil (Unix nanoseconds) is set when a refresh ahead of exp
	// failed: until then the cached token, still valid, is used without
	// trying again, so an outage of the token route costs one failed fetch
	// per tokenRetryDelay rather than one per call.
	holdUntil atomic.Int64
}

func newTenantTokens(ref SubAccountRef, fetch func(context.Context) (*IdentityToken, error)) *tenantTokens {
	return &tenantTokens{ref: ref, fetch: fetch, now: time.Now}
}

type cachedToken struct {
	tok string
	// refreshAt is when to fetch a new token ahead of the JWT's exp, and
	// expiresAt that exp; both zero when the token is not known to expire.
	refreshAt time.Time
	expiresAt time.Time
}

// tokenRefreshMargin is how long before a token's exp a new one is fetched.
const tokenRefreshMargin = time.Minute

// tokenRetryDelay is how long a token whose early refresh failed is used
// before the refresh is tried again (never past its exp).
const tokenRetryDelay = 5 * time.Second

// nonExpiringAfter: a token whose exp is further away than this is treated
// as non-expiring. Issuers write "never" as a far-future exp (the year
// 9999); such a time is past what a time.Duration or Unix nanoseconds can
// hold, so it is not scheduled at all.
const nonExpiringAfter = 100 * 365 * 24 * time.Hour

// newCachedToken schedules the refresh of it, fetched at now.
func newCachedToken(it *IdentityToken, now time.Time) *cachedToken {
	c := &cachedToken{tok: it.Token}
	if it.ExpiresAt.IsZero() {
		return c
	}
	// Sub saturates, so a far-future exp gives a huge life, not a wrapped
	// one.
	life := it.ExpiresAt.Sub(now)
	if life <= 0 || life >= nonExpiringAfter {
		// A token already past its exp is used until a 401 says otherwise
		// (clocks differ); one that expires in centuries never expires.
		return c
	}
	// Refresh a minute ahead of exp, or half-way for a token that lives
	// less than two minutes.
	c.refreshAt = it.ExpiresAt.Add(-min(tokenRefreshMargin, life/2))
	c.expiresAt = it.ExpiresAt
	return c
}

// fresh reports whether c can be sent at now without trying a refresh.
func (c *cachedToken) fresh(now time.Time) bool {
	return c.refreshAt.IsZero() || now.Before(c.refreshAt)
}

// valid reports whether c is before its exp at now.
func (c *cachedToken) valid(now time.Time) bool {
	return c.expiresAt.IsZero() || now.Before(c.expiresAt)
}

// token returns the cached token, fetching one first when there is none or
// it is due for its early refresh. A failed early refresh does not fail the
// call while the cached token is valid: that token is used until its exp
// (trying again every tokenRetryDelay), and only a failure past the exp is
// returned.
func (t *tenantTokens) token(ctx context.Context) (string, error) {
	c := t.cur.Load()
	if c != nil {
		if c.refreshAt.IsZero() {
			return c.tok, nil // the common case: no clock read
		}
		now := t.now()
		if c.fresh(now) || (c.valid(now) && now.UnixNano() < t.holdUntil.Load()) {
			return c.tok, nil
		}
	}
	tok, err := t.replace(ctx, c)
	if err == nil || c == nil || ctx.Err() != nil {
		return tok, err
	}
	now := t.now()
	if !c.valid(now) {
		return "", err
	}
	t.holdUntil.Store(now.Add(tokenRetryDelay).UnixNano())
	return c.tok, nil
}

func (t *tenantTokens) refresh(ctx context.Context, stale string) (string, error) {
	c := t.cur.Load()
	if c != nil && c.tok != stale {
		return c.tok, nil // another call already replaced it
	}
	tok, err := t.replace(ctx, c)
	if err != nil {
		return "", err
	}
	if tok == stale {
		return "", errNoRefresh // the server handed back the refused token
	}
	return tok, nil
}

// replace fetches a new token unless the one cached is no longer old (then
// another caller has replaced it already). Concurrent callers share one
// fetch.
func (t *tenantTokens) replace(ctx context.Context, old *cachedToken) (string, error) {
	tok, _, err := t.flights.do(ctx, struct{}{}, func(fctx context.Context) (string, error) {
		if c := t.cur.Load(); c != nil && c != old {
			return c.tok, nil
		}
		it, err := t.fetch(fctx)
		if err != nil {
			if fctx.Err() != nil {
				return "", fctx.Err()
			}
			return "", fmt.Errorf("peliqan: identity token for sub-account %s: %w", t.ref, err)
		}
		c := newCachedToken(it, t.now())
		t.cur.Store(c)
		t.holdUntil.Store(0)
		return c.tok, nil
	})
	return tok, err
}

// flightGroup runs one call per key at a time and hands its result to every
// caller that asked while it ran. Unlike golang.org/x/sync/singleflight, the
// call does not run on the first caller's context: it runs on a context
// detached from any one caller (keeping its values), which is cancelled when
// the last waiting caller gives up. So one caller's cancellation never fails
// the others, and nothing keeps running once nobody waits.
type flightGroup[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*flightCall[V]
}

type flightCall[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int
	cancel  context.CancelFunc
	claimed atomic.Bool
}

// do returns fn's result for key. first is true for exactly one caller of a
// successful call: the first to receive its result.
func (g *flightGroup[K, V]) do(ctx context.Context, key K, fn func(context.Context) (V, error)) (v V, first bool, err error) {
	if err := ctx.Err(); err != nil {
		return v, false, err
	}
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[K]*flightCall[V])
	}
	c := g.m[key]
	if c == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &flightCall[V]{done: make(chan struct{}), cancel: cancel}
		g.m[key] = c
		go g.run(fctx, key, c, fn)
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done: // finished meanwhile: use the result
		default:
			g.mu.Lock()
			c.waiters--
			if c.waiters == 0 {
				c.cancel()
				if g.m[key] == c {
					delete(g.m, key)
				}
			}
			g.mu.Unlock()
			return v, false, ctx.Err()
		}
	}
	if c.err != nil {
		if isContextErr(c.err) && ctx.Err() != nil {
			return v, false, ctx.Err()
		}
		return v, false, c.err
	}
	return c.val, c.claimed.CompareAndSwap(false, true), nil
}

func (g *flightGroup[K, V]) run(ctx context.Context, key K, c *flightCall[V], fn func(context.Context) (V, error)) {
	defer c.cancel()
	v, err := fn(ctx)
	g.mu.Lock()
	c.val, c.err = v, err
	if g.m[key] == c {
		delete(g.m, key)
	}
	g.mu.Unlock()
	close(c.done)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
