package peliqantest

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func partnerHandlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		routes.ListSubAccounts:  listSubAccounts,
		routes.CreateSubAccount: createSubAccount,
		routes.GetSubAccount:    getSubAccount,
		routes.SubAccountInfo:   subAccountInfo,
		routes.UpdateSubAccount: updateSubAccount,
		routes.DeleteSubAccount: deleteSubAccount,
		routes.SubAccountToken:  subAccountToken,
		routes.IntegrationToken: integrationToken,
		routes.ServerTypes:      serverTypes,
	}
}

// subAccountBody is what create, update and integrate accept.
type subAccountBody struct {
	ExternalID  *string `json:"external_id"`
	Name        *string `json:"name"`
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Email       *string `json:"email"`
	Password    *string `json:"password"`
	CompanyName *string `json:"company_name"`
	Country     *string `json:"country"`
	CompanySize any     `json:"company_size"`
	Language    *string `json:"language"`
	Timezone    *string `json:"timezone"`
	Verified    *bool   `json:"verified"`
	License     *string `json:"license"`

	// ExpiresOn: null clears the expiry; a body without it keeps it.
	ExpiresOn presentString `json:"expires_on"`
}

// apply copies the fields that were sent; the password is accepted and
// never shown.
func (b *subAccountBody) apply(p *profile) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.ExternalID, b.ExternalID)
	set(&p.FirstName, b.FirstName)
	set(&p.LastName, b.LastName)
	set(&p.Email, b.Email)
	set(&p.CompanyName, b.CompanyName)
	set(&p.Country, b.Country)
	set(&p.Language, b.Language)
	set(&p.Timezone, b.Timezone)
	set(&p.License, b.License)
	if b.Name != nil {
		p.Name = *b.Name
	} else if b.CompanyName != nil {
		p.Name = *b.CompanyName
	}
	if b.CompanySize != nil {
		p.CompanySize = b.CompanySize
	}
	if b.Verified != nil {
		p.Verified = *b.Verified
	}
	if b.ExpiresOn.sent {
		p.ExpiresOn = b.ExpiresOn.v
	}
}

func (b *subAccountBody) validate() (reply, bool) {
	if b.ExternalID == nil || strings.TrimSpace(*b.ExternalID) == "" {
		return required("external_id"), false
	}
	if b.Email != nil && *b.Email != "" && !strings.Contains(*b.Email, "@") {
		return fieldErrors("email", "Enter a valid email address."), false
	}
	return reply{}, true
}

func listSubAccounts(c *call) reply {
	page, per, bad, ok := c.pageParams()
	if !ok {
		return bad
	}
	items := make([]profile, 0, len(c.s.st.order))
	for _, id := range c.s.st.order {
		items = append(items, c.s.st.accounts[id].profile)
	}
	return c.ok(pageOf(items, page, per))
}

func createSubAccount(c *call) reply {
	var b subAccountBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	if rep, ok := b.validate(); !ok {
		return rep
	}
	if c.s.st.byExternalID(*b.ExternalID) != nil {
		return c.peliqanError(http.StatusBadRequest, "ERROR_SUBACCOUNT_ALREADY_EXISTS",
			"A sub-account with this external_id already exists")
	}
	p := profile{Verified: true}
	b.apply(&p)
	a := c.s.st.addSubAccount(p, c.now)
	return c.ok(a.profile)
}

// lookupSubAccount finds the sub-account named by the external_id or
// account_id query parameter.
func (c *call) lookupSubAccount() (*account, reply) {
	if ext := c.query.Get("external_id"); ext != "" {
		if a := c.s.st.byExternalID(ext); a != nil {
			return a, reply{}
		}
		return nil, notFound()
	}
	if raw := c.query.Get("account_id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fieldErrors("account_id", "A valid integer is required.")
		}
		if a := c.s.st.subAccount(id); a != nil {
			return a, reply{}
		}
		return nil, notFound()
	}
	return nil, fieldErrors("external_id", "Either external_id or account_id is required.")
}

func getSubAccount(c *call) reply {
	a, rep := c.lookupSubAccount()
	if a == nil {
		return rep
	}
	return c.ok(a.profile)
}

func (c *call) subAccountParam() *account {
	id, ok := c.idParam(0)
	if !ok {
		return nil
	}
	return c.s.st.subAccount(id)
}

func subAccountInfo(c *call) reply {
	a := c.subAccountParam()
	if a == nil {
		return notFound()
	}
	return c.ok(map[string]any{
		"id":              a.ID,
		"name":            a.Name,
		"external_id":     a.ExternalID,
		"license":         a.License,
		"expires_on":      a.ExpiresOn,
		"default_dw_id":   a.dw.ID,
		"default_dw_name": a.dw.Name,
	})
}

func updateSubAccount(c *call) reply {
	a := c.subAccountParam()
	if a == nil {
		return notFound()
	}
	var b subAccountBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	if b.ExternalID != nil && *b.ExternalID != a.ExternalID {
		if strings.TrimSpace(*b.ExternalID) == "" {
			return fieldErrors("external_id", "This field may not be blank.")
		}
		if c.s.st.byExternalID(*b.ExternalID) != nil {
			return c.peliqanError(http.StatusBadRequest, "ERROR_SUBACCOUNT_ALREADY_EXISTS",
				"A sub-account with this external_id already exists")
		}
		delete(c.s.st.external, a.ExternalID)
		c.s.st.external[*b.ExternalID] = a.ID
	}
	b.apply(&a.profile)
	return c.ok(a.profile)
}

func deleteSubAccount(c *call) reply {
	a := c.subAccountParam()
	if a == nil {
		return notFound()
	}
	c.s.st.deleteSubAccount(a)
	return c.ok(nil)
}

func subAccountToken(c *call) reply {
	a, rep := c.lookupSubAccount()
	if a == nil {
		return rep
	}
	expiring := !strings.EqualFold(c.query.Get("expire"), "false")
	tok, err := c.s.auth.mint(a.ID, kindIdentity, expiring, c.now)
	if err != nil {
		return detail(http.StatusInternalServerError, "signing failed")
	}
	return c.ok(map[string]string{"token": tok})
}

// integrationToken gets or creates the sub-account by external_id (the
// body, or the older query-parameter form) and returns a short-lived token
// for the embed widget.
func integrationToken(c *call) reply {
	var b subAccountBody
	if rep, ok := c.decodeBody(&b); !ok {
		return rep
	}
	if b.ExternalID == nil {
		if ext := c.query.Get("external_id"); ext != "" {
			b.ExternalID = &ext
		}
	}
	var a *account
	switch {
	case b.ExternalID != nil && strings.TrimSpace(*b.ExternalID) != "":
		a = c.s.st.byExternalID(*b.ExternalID)
		if a == nil {
			if rep, ok := b.validate(); !ok {
				return rep
			}
			p := profile{Verified: true}
			b.apply(&p)
			a = c.s.st.addSubAccount(p, c.now)
		}
	case c.query.Get("account_id") != "":
		var rep reply
		if a, rep = c.lookupSubAccount(); a == nil {
			return rep
		}
	default:
		return required("external_id")
	}
	tok, err := c.s.auth.mint(a.ID, kindIntegration, true, c.now)
	if err != nil {
		return detail(http.StatusInternalServerError, "signing failed")
	}
	return c.ok(map[string]string{"integration_token": tok})
}

func serverTypes(c *call) reply {
	return c.ok(c.s.st.serverTypes)
}
