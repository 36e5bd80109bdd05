package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"maps"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// SubAccount is one of your customers' Peliqan accounts (a tenant), as the
// partner API returns it. Only id, name and external_id are documented; the
// other fields are those Peliqan's own client sends at creation and are
// filled when the server returns them. Members the SDK does not know are kept
// in Extra, and a member of an unexpected type lands there too instead of
// failing the call.
type SubAccount struct {
	ID          ID     `json:"id"`
	Name        string `json:"name"`
	ExternalID  string `json:"external_id"`
	FirstName   string `json:"first_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
	Email       string `json:"email,omitempty"`
	CompanyName string `json:"company_name,omitempty"`
	Country     string `json:"country,omitempty"`
	CompanySize string `json:"company_size,omitempty"`
	Language    string `json:"language,omitempty"`
	Timezone    string `json:"timezone,omitempty"`
	Verified    bool   `json:"verified,omitempty"`
	License     string `json:"license,omitempty"`
	// ExpiresOn is the license expiry date; nil when the account does not
	// expire.
	ExpiresOn *Date `json:"expires_on,omitempty"`
	// CreatedAt is when the account was created (created_at), when the
	// server sends it; zero otherwise.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Extra holds the members not listed above, as sent.
	Extra map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes tolerantly: ids as numbers or strings, strings from
// numbers, booleans from "true"/1, dates as dates or timestamps, times as
// ISO 8601 or Unix seconds; anything else unexpected is kept in Extra. Only
// an unusable id fails.
func (s *SubAccount) UnmarshalJSON(b []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return err
	}
	*s = SubAccount{}
	for k, raw := range top {
		ok := true
		switch k {
		case "id":
			if err := s.ID.UnmarshalJSON(raw); err != nil {
				return err
			}
		case "name":
			s.Name, ok = looseString(raw)
		case "external_id":
			s.ExternalID, ok = looseString(raw)
		case "first_name":
			s.FirstName, ok = looseString(raw)
		case "last_name":
			s.LastName, ok = looseString(raw)
		case "email":
			s.Email, ok = looseString(raw)
		case "company_name":
			s.CompanyName, ok = looseString(raw)
		case "country":
			s.Country, ok = looseString(raw)
		case "company_size":
			s.CompanySize, ok = looseString(raw)
		case "language":
			s.Language, ok = looseString(raw)
		case "timezone":
			s.Timezone, ok = looseString(raw)
		case "verified":
			s.Verified, ok = looseBool(raw)
		case "license":
			s.License, ok = looseString(raw)
		case "expires_on":
			s.ExpiresOn, ok = looseDate(raw)
		case "created_at":
			s.CreatedAt = svTime(raw)
			ok = !s.CreatedAt.IsZero() || svText(raw) == ""
		default:
			ok = false
		}
		if !ok {
			if s.Extra == nil {
				s.Extra = make(map[string]json.RawMessage)
			}
			s.Extra[k] = raw
		}
	}
	return nil
}

// SubAccountCreate is the body of CreateSubAccount and EnsureSubAccount. It
// carries every field Peliqan's own client sends. ExternalID, FirstName,
// LastName, Email and CompanyName are required; Language, Timezone, License
// and Verified default to what Peliqan's client sends ("en", "UTC",
// "free_trial", true).
type SubAccountCreate struct {
	// ExternalID is your own, unique id for the customer. Required.
	ExternalID  string
	FirstName   string
	LastName    string
	Email       string
	CompanyName string
	// Password of the account owner; sent only when set (Peliqan's client
	// requires it, the docs do not show it).
	Password string
	// Country of the company; sent only when set.
	Country string
	// CompanySize is sent as given ("1-10", "50"); null when empty.
	CompanySize string
	// Language, default "en".
	Language string
	// Timezone, default "UTC".
	Timezone string
	// Verified marks the owner's e-mail as verified; nil means true.
	Verified *bool
	// License, default "free_trial".
	License string
	// ExpiresOn is the license expiry; nil sends null (no expiry).
	ExpiresOn *Date
}

type subAccountCreateWire struct {
	FirstName   string  `json:"first_name"`
	LastName    string  `json:"last_name"`
	Email       string  `json:"email"`
	Password    string  `json:"password,omitempty"`
	CompanyName string  `json:"company_name"`
	Country     string  `json:"country,omitempty"`
	CompanySize *string `json:"company_size"`
	Language    string  `json:"language"`
	Timezone    string  `json:"timezone"`
	Verified    bool    `json:"verified"`
	License     string  `json:"license"`
	ExpiresOn   *Date   `json:"expires_on"`
	ExternalID  string  `json:"external_id"`
}

func (in SubAccountCreate) validate() error {
	if err := checkExternalID("external_id", in.ExternalID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"first_name", in.FirstName}, {"last_name", in.LastName}, {"company_name", in.CompanyName},
	} {
		if isBlank(f.v) {
			return invalidArg(f.name, "is empty")
		}
	}
	if err := checkEmail("email", in.Email); err != nil {
		return err
	}
	if in.ExpiresOn != nil && !in.ExpiresOn.IsZero() && !in.ExpiresOn.valid() {
		return invalidArg("expires_on", "%s is not a calendar date", in.ExpiresOn)
	}
	return nil
}

func (in SubAccountCreate) wire() subAccountCreateWire {
	w := subAccountCreateWire{
		FirstName: in.FirstName, LastName: in.LastName, Email: strings.TrimSpace(in.Email),
		Password: in.Password, CompanyName: in.CompanyName, Country: in.Country,
		Language: in.Language, Timezone: in.Timezone, Verified: true, License: in.License,
		ExternalID: in.ExternalID,
	}
	if in.CompanySize != "" {
		w.CompanySize = &in.CompanySize
	}
	if w.Language == "" {
		w.Language = "en"
	}
	if w.Timezone == "" {
		w.Timezone = "UTC"
	}
	if w.License == "" {
		w.License = "free_trial"
	}
	if in.Verified != nil {
		w.Verified = *in.Verified
	}
	if in.ExpiresOn != nil && !in.ExpiresOn.IsZero() {
		d := *in.ExpiresOn
		w.ExpiresOn = &d
	}
	return w
}

// String describes the request without the password.
func (in SubAccountCreate) String() string {
	return "peliqan.SubAccountCreate{ExternalID:" + strconv.Quote(in.ExternalID) + " Email:" + strconv.Quote(in.Email) +
		" CompanyName:" + strconv.Quote(in.CompanyName) + " Password:" + redactedIfSet(in.Password) + "}"
}

// GoString keeps %#v from printing the password.
func (in SubAccountCreate) GoString() string { return in.String() }

// LogValue logs the request without the password.
func (in SubAccountCreate) LogValue() slog.Value {
	return slog.GroupValue(slog.String("external_id", in.ExternalID), slog.String("email", in.Email),
		slog.String("company_name", in.CompanyName), slog.String("password", redactedIfSet(in.Password)))
}

// SubAccountUpdate lists the fields to change; nil fields are left as they
// are. Set ExpiresOn to change the expiry date, or ClearExpiresOn to remove
// it (the account then does not expire).
type SubAccountUpdate struct {
	FirstName      *string
	LastName       *string
	Email          *string
	CompanyName    *string
	Country        *string
	CompanySize    *string
	Language       *string
	Timezone       *string
	Verified       *bool
	License        *string
	ExpiresOn      *Date
	ClearExpiresOn bool
}

func (u SubAccountUpdate) body() (map[string]any, error) {
	m := make(map[string]any)
	for _, f := range []struct {
		name     string
		v        *string
		required bool
	}{
		{"first_name", u.FirstName, true}, {"last_name", u.LastName, true}, {"email", u.Email, true},
		{"company_name", u.CompanyName, true}, {"country", u.Country, false},
		{"company_size", u.CompanySize, false}, {"language", u.Language, true},
		{"timezone", u.Timezone, true}, {"license", u.License, true},
	} {
		if f.v == nil {
			continue
		}
		if f.required && isBlank(*f.v) {
			return nil, invalidArg(f.name, "is empty")
		}
		m[f.name] = *f.v
	}
	if u.Email != nil {
		if err := checkEmail("email", *u.Email); err != nil {
			return nil, err
		}
		m["email"] = strings.TrimSpace(*u.Email)
	}
	if u.Verified != nil {
		m["verified"] = *u.Verified
	}
	switch {
	case u.ExpiresOn != nil && u.ClearExpiresOn:
		return nil, invalidArg("expires_on", "set both ExpiresOn and ClearExpiresOn")
	case u.ClearExpiresOn:
		m["expires_on"] = nil
	case u.ExpiresOn != nil:
		if u.ExpiresOn.IsZero() || !u.ExpiresOn.valid() {
			return nil, invalidArg("expires_on", "%s is not a calendar date; use ClearExpiresOn to remove the expiry", u.ExpiresOn)
		}
		m["expires_on"] = *u.ExpiresOn
	}
	if len(m) == 0 {
		return nil, invalidArg("update", "changes nothing")
	}
	return m, nil
}

// SubAccountInfo is what the partner API tells about a tenant's set-up: its
// built-in data warehouse. Unknown members are kept in Extra.
type SubAccountInfo struct {
	DefaultDWID   ID     `json:"default_dw_id"`
	DefaultDWName string `json:"default_dw_name"`
	// Extra holds the members not listed above, as sent.
	Extra map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes tolerantly and keeps unknown members in Extra.
func (s *SubAccountInfo) UnmarshalJSON(b []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return err
	}
	*s = SubAccountInfo{}
	for k, raw := range top {
		ok := true
		switch k {
		case "default_dw_id":
			ok = s.DefaultDWID.UnmarshalJSON(raw) == nil
		case "default_dw_name":
			s.DefaultDWName, ok = looseString(raw)
		default:
			ok = false
		}
		if !ok {
			if s.Extra == nil {
				s.Extra = make(map[string]json.RawMessage)
			}
			s.Extra[k] = raw
		}
	}
	return nil
}

// ListSubAccounts returns one page of your sub-accounts (page and per_page;
// zero values use the server's defaults: page 1, 10 per page).
func (p *PartnerClient) ListSubAccounts(ctx context.Context, o *ListOptions, opts ...RequestOption) (*Page[SubAccount], error) {
	q, err := listQuery(o)
	if err != nil {
		return nil, err
	}
	return listPage[SubAccount](ctx, p.c, routes.MustLookup(routes.ListSubAccounts), nil, q, opts)
}

// SubAccounts iterates over all your sub-accounts, fetching pages lazily as
// the loop asks for more. o sets the first page and the page size (nil: the
// server's defaults). An error is yielded once and ends the iteration.
func (p *PartnerClient) SubAccounts(ctx context.Context, o *ListOptions, opts ...RequestOption) iter.Seq2[*SubAccount, error] {
	first, err := listQuery(o)
	if err != nil {
		return func(yield func(*SubAccount, error) bool) { yield(nil, err) }
	}
	route := routes.MustLookup(routes.ListSubAccounts)
	return paginate(ctx, first, func(ctx context.Context, q url.Values) (*Page[SubAccount], error) {
		return listPage[SubAccount](ctx, p.c, route, nil, q, opts)
	})
}

func listQuery(o *ListOptions) (url.Values, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	q, err := wire.Query(o)
	if err != nil {
		return nil, invalidArg("ListOptions", "%v", err)
	}
	if q == nil {
		q = url.Values{}
	}
	return q, nil
}

// CreateSubAccount creates a customer account (POST
// /api/partner/sub-accounts/, the path Peliqan's own client uses). It is
// never retried: the API has no idempotency key, so a transport error leaves
// it unknown whether the account exists; EnsureSubAccount handles that case
// for you.
//
// When the server accepted the create but its answer cannot be decoded in
// full, the account exists: CreateSubAccount returns it as far as it could
// be read (its ID when the answer had one) together with a *DecodeError.
// Do not create it again; look it up with GetSubAccount.
func (p *PartnerClient) CreateSubAccount(ctx context.Context, in SubAccountCreate, opts ...RequestOption) (*SubAccount, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	return doWrite[SubAccount](ctx, p.c, &call{route: routes.MustLookup(routes.CreateSubAccount), body: in.wire()}, opts)
}

// GetSubAccount returns one sub-account, by external id or account id. An
// unknown one is an error matching ErrNotFound.
func (p *PartnerClient) GetSubAccount(ctx context.Context, ref SubAccountRef, opts ...RequestOption) (*SubAccount, error) {
	if err := ref.validate(); err != nil {
		return nil, err
	}
	return doInto[SubAccount](ctx, p.c, &call{route: routes.MustLookup(routes.GetSubAccount), query: ref.query()}, opts)
}

// UpdateSubAccount changes a sub-account's license, expiry or profile and
// returns it as the server sends it back. Only the fields set in u are sent.
//
// The route (PUT /api/partner/sub-accounts/{id}/) is inferred from Peliqan's
// oldest partner doc; no current source shows it. Use Do if it turns out
// different. An answer that cannot be decoded in full returns what could be
// read beside a *DecodeError: the update was applied.
func (p *PartnerClient) UpdateSubAccount(ctx context.Context, id ID, u SubAccountUpdate, opts ...RequestOption) (*SubAccount, error) {
	sid, err := id.param("id")
	if err != nil {
		return nil, err
	}
	body, err := u.body()
	if err != nil {
		return nil, err
	}
	return doWrite[SubAccount](ctx, p.c, &call{route: routes.MustLookup(routes.UpdateSubAccount), params: []string{sid}, body: body}, opts)
}

// DeleteSubAccount closes a customer account. The tenant client cached for
// ByAccountID(id) is dropped.
//
// The route (DELETE /api/partner/sub-accounts/{id}/) is inferred from
// Peliqan's oldest partner doc; no current source shows it.
func (p *PartnerClient) DeleteSubAccount(ctx context.Context, id ID, opts ...RequestOption) error {
	sid, err := id.param("id")
	if err != nil {
		return err
	}
	if err := p.c.do(ctx, &call{route: routes.MustLookup(routes.DeleteSubAccount), params: []string{sid}}, opts); err != nil {
		return err
	}
	p.forgetSubAccount(ByAccountID(id))
	return nil
}

// SubAccountInfo returns a tenant's set-up as the partner sees it: its
// default data warehouse id and name (where Query and query tables run).
func (p *PartnerClient) SubAccountInfo(ctx context.Context, id ID, opts ...RequestOption) (*SubAccountInfo, error) {
	sid, err := id.param("id")
	if err != nil {
		return nil, err
	}
	return doInto[SubAccountInfo](ctx, p.c, &call{route: routes.MustLookup(routes.SubAccountInfo), params: []string{sid}}, opts)
}

// EnsureSubAccount returns the sub-account with in.ExternalID, creating it
// from in when it does not exist (get by external_id, then create on
// ErrNotFound). created is true when this call made it.
//
// Inside one process, concurrent calls for the same external_id share one
// get-and-create: the API sees one create, every caller gets the same
// account, and exactly one of them sees created == true (so "hydrate the new
// tenant" runs once). The fields of the caller that started the shared call
// are the ones sent.
//
// Across processes it can race: the API has no idempotency key, so two
// processes may both find no account and both create one. What the second
// one sees depends on the server. If it refuses a duplicate external_id (a
// 400 or 409), EnsureSubAccount looks the account up again and returns the
// one the other process made, with created == false. If the server accepts
// the duplicate, two accounts share the external_id, each process gets its
// own, and later lookups by external_id may return either. Serialise
// provisioning per customer (a job queue, a database lock) if that matters,
// and make hydration idempotent.
//
// A create that fails without an answer (a *TransportError) is not retried,
// because it may have succeeded; calling EnsureSubAccount again is safe and
// then finds the account (created == false). A create the server accepted
// but whose answer cannot be read is followed by a look-up of the account;
// if that fails too, the account as far as it could be read comes back with
// created == true and the *DecodeError.
func (p *PartnerClient) EnsureSubAccount(ctx context.Context, in SubAccountCreate, opts ...RequestOption) (sa *SubAccount, created bool, err error) {
	if ctx == nil {
		return nil, false, invalidArg("ctx", "nil context")
	}
	if err := in.validate(); err != nil {
		return nil, false, err
	}
	res, first, err := p.st.ensure.do(ctx, in.ExternalID, func(ctx context.Context) (ensured, error) {
		got, err := p.GetSubAccount(ctx, ByExternalID(in.ExternalID), opts...)
		if err == nil {
			return ensured{sa: got}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return ensured{}, err
		}
		got, err = p.CreateSubAccount(ctx, in, opts...)
		if err == nil {
			return ensured{sa: got, created: true}, nil
		}
		if got != nil {
			// Made, but its answer could not be read in full: read it back.
			if again, gerr := p.GetSubAccount(ctx, ByExternalID(in.ExternalID), opts...); gerr == nil {
				return ensured{sa: again, created: true}, nil
			}
			return ensured{sa: got, created: true, err: err}, nil
		}
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrValidation) {
			// Another process may have created it between our get and
			// create: look again before giving up.
			if again, gerr := p.GetSubAccount(ctx, ByExternalID(in.ExternalID), opts...); gerr == nil {
				return ensured{sa: again}, nil
			}
		}
		return ensured{}, err
	})
	if err != nil {
		return nil, false, err
	}
	cp := *res.sa // callers sharing a flight get their own copy
	cp.Extra = maps.Clone(cp.Extra)
	if cp.ExpiresOn != nil {
		d := *cp.ExpiresOn
		cp.ExpiresOn = &d
	}
	return &cp, res.created && first, res.err
}

// ensured is the shared result of one EnsureSubAccount flight. err is set
// beside sa when the account was made but could not be read back in full
// (the flight drops its value on an error, so it travels here).
type ensured struct {
	sa      *SubAccount
	created bool
	err     error
}

// looseString reads a string, a number (as written) or null.
func looseString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// looseBool reads true/false, "true"/"false"/"1"/"0", 1/0 or null.
func looseBool(raw json.RawMessage) (bool, bool) {
	switch strings.Trim(strings.ToLower(string(bytes.TrimSpace(raw))), `"`) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no", "", "null":
		return false, true
	}
	return false, false
}

// looseDate reads a date, a timestamp (its date part), "" or null.
func looseDate(raw json.RawMessage) (*Date, bool) {
	var d Date
	if err := d.UnmarshalJSON(raw); err != nil {
		return nil, false
	}
	if d.IsZero() {
		return nil, true
	}
	if !d.valid() {
		return nil, false // e.g. year 0: kept in Extra, so the value re-encodes
	}
	return &d, true
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// checkEmail accepts one bare address ("ann@example.com"), with no display
// name, as the account owner's login.
func checkEmail(name, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return invalidArg(name, "is empty")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return invalidArg(name, "%q is not an e-mail address", s)
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return invalidArg(name, "%q is not an e-mail address", s)
	}
	return nil
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}
