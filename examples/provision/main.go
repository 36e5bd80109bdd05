// Command provision is what a SaaS backend does when a customer signs up:
// make sure the customer has a Peliqan sub-account (EnsureSubAccount, run
// twice to show that the second call finds the account instead of making
// another), mint the customer's tokens (the server-side identity token and
// the integration token for the embed widget, printed truncated: a token is
// a credential), and install a script in the customer's account
// (PublishScript, twice: the second publish finds it up to date and writes
// nothing).
//
//	go run ./examples/provision
//
// Without PELIQAN_PARTNER_TOKEN it runs against the in-process fake
// (peliqantest), seeded with two existing customers, and provisions
// "wood-and-co". With it, it uses your Peliqan account (PELIQAN_BASE_URL,
// default https://app.eu.peliqan.io) and, because it creates an account and
// a script there, does nothing unless you name the customer with
// -external-id.
//
// Flags (each has an environment variable that does the same):
//
//	-external-id id  the customer's id in your system (PELIQAN_EXAMPLE_EXTERNAL_ID);
//	                 required with a partner token; default "wood-and-co" on the fake
//	-company name    company name (PELIQAN_EXAMPLE_COMPANY)
//	-email address   the account owner's e-mail (PELIQAN_EXAMPLE_EMAIL)
//	-first-name s    the owner's first name (PELIQAN_EXAMPLE_FIRST_NAME)
//	-last-name s     the owner's last name (PELIQAN_EXAMPLE_LAST_NAME)
//	-script name     the script to publish (PELIQAN_EXAMPLE_SCRIPT, default "hello_peliqan_go")
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	peliqan "github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/examples/internal/demo"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Settings, as environment variables.
const (
	envExternalID = "PELIQAN_EXAMPLE_EXTERNAL_ID"
	envCompany    = "PELIQAN_EXAMPLE_COMPANY"
	envEmail      = "PELIQAN_EXAMPLE_EMAIL"
	envFirstName  = "PELIQAN_EXAMPLE_FIRST_NAME"
	envLastName   = "PELIQAN_EXAMPLE_LAST_NAME"
	envScript     = "PELIQAN_EXAMPLE_SCRIPT"
)

// fakeExternalID is the customer provisioned on the fake by default.
const fakeExternalID = "wood-and-co"

func main() {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.String("external-id", "", "the customer's id in your system (required with a partner token)")
	fs.String("company", "", "company name (default: from the external id)")
	fs.String("email", "", "the account owner's e-mail (default: <external id>@example.com)")
	fs.String("first-name", "", `the owner's first name (default "Demo")`)
	fs.String("last-name", "", `the owner's last name (default "Owner")`)
	fs.String("script", "", `the script to publish (default "hello_peliqan_go")`)
	demo.Main(fs, map[string]string{
		"external-id": envExternalID, "company": envCompany, "email": envEmail,
		"first-name": envFirstName, "last-name": envLastName, "script": envScript,
	}, run)
}

// profile is the customer to provision, from the settings.
type profile struct {
	externalID, company, email, first, last, script string
}

func settings(getenv func(string) string) (profile, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	p := profile{externalID: get(envExternalID, "")}
	if p.externalID == "" {
		if getenv(demo.EnvToken) != "" {
			return p, errors.New("provision creates a customer account and a script in your Peliqan account: " +
				"name the customer with -external-id (or " + envExternalID + ")")
		}
		p.externalID = fakeExternalID
	}
	p.company = get(envCompany, companyFrom(p.externalID))
	p.email = get(envEmail, p.externalID+"@example.com")
	p.first = get(envFirstName, "Demo")
	p.last = get(envLastName, "Owner")
	p.script = get(envScript, "hello_peliqan_go")
	return p, nil
}

// companyFrom makes a readable name of an external id: "wood-and-co" is
// "Wood And Co".
func companyFrom(id string) string {
	words := strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' || r == '.' || r == ' ' })
	for i, w := range words {
		r := []rune(w)
		words[i] = strings.ToUpper(string(r[:1])) + string(r[1:])
	}
	return strings.Join(words, " ")
}

func run(ctx context.Context, out io.Writer, getenv func(string) string) error {
	prof, err := settings(getenv)
	if err != nil {
		return err
	}
	env, err := demo.Open(ctx, out, getenv, demo.Config{Name: "provision", Fake: []peliqantest.Option{
		// Two customers already there: provisioning a third leaves them be.
		peliqantest.WithFixture(peliqantest.Generate(1, 2, 1, 10)),
	}})
	if err != nil {
		return err
	}
	defer env.Close()
	p := env.Partner

	// 1. Get or create the customer's account, by your own id. Run on every
	// sign-up (or every deploy): a second call finds the account.
	fmt.Fprintf(out, "customer %q:\n", prof.externalID)
	in := peliqan.SubAccountCreate{ExternalID: prof.externalID, CompanyName: prof.company,
		Email: prof.email, FirstName: prof.first, LastName: prof.last}
	var sa *peliqan.SubAccount
	for i := 1; i <= 2; i++ {
		got, created, err := p.EnsureSubAccount(ctx, in)
		if err != nil {
			return fmt.Errorf("EnsureSubAccount: %w", err)
		}
		verb := "found"
		if created {
			verb = "created"
		}
		fmt.Fprintf(out, "  EnsureSubAccount #%d: %s account %d %q (created=%t)\n", i, verb, got.ID, got.Name, created)
		if sa != nil && got.ID != sa.ID {
			return fmt.Errorf("EnsureSubAccount returned account %d, then %d", sa.ID, got.ID)
		}
		sa = got
	}
	ref := peliqan.ByAccountID(sa.ID)

	// 2. The customer's tokens. Both are credentials: they are printed
	// truncated here, and the identity token never leaves your server.
	fmt.Fprintln(out, "tokens (truncated; a token is a credential):")
	idTok, err := p.SubAccountToken(ctx, ref, nil)
	if err != nil {
		return fmt.Errorf("SubAccountToken: %w", err)
	}
	fmt.Fprintf(out, "  identity token (server side, %s): %s\n", expiry(idTok.ExpiresAt), demo.Redact(idTok.Token))
	intTok, err := p.IntegrationToken(ctx, peliqan.Integration{ExternalID: prof.externalID, FirstName: prof.first,
		LastName: prof.last, Email: prof.email, CompanyName: prof.company})
	if err != nil {
		return fmt.Errorf("IntegrationToken: %w", err)
	}
	fmt.Fprintf(out, "  integration token (for the embed widget, %s): %s\n", expiry(intTok.ExpiresAt), demo.Redact(intTok.Token))

	// 3. Install a script: created where missing, updated where it differs,
	// left alone where it matches. Publishing again writes nothing.
	tmpl := peliqan.ScriptTemplate{
		Name: prof.script,
		Code: "# Installed by peliqan-go's provision example.\nprint('hello from peliqan-go')\n",
	}
	fmt.Fprintf(out, "script %q:\n", tmpl.Name)
	for i := 1; i <= 2; i++ {
		rep, err := p.PublishScript(ctx, tmpl, &peliqan.PublishOptions{SubAccounts: []peliqan.SubAccountRef{ref}})
		if err != nil {
			return fmt.Errorf("PublishScript: %w", err)
		}
		if err := rep.Err(); err != nil {
			return fmt.Errorf("PublishScript: %w", err)
		}
		r := rep.Results[0]
		fmt.Fprintf(out, "  PublishScript #%d: %s (script %d)\n", i, r.Outcome, r.ID)
	}

	// 4. What the customer's account now holds, read with its tenant client.
	t, err := p.SubAccount(ref)
	if err != nil {
		return err
	}
	scripts, err := t.ListScripts(ctx)
	if err != nil {
		return fmt.Errorf("ListScripts: %w", err)
	}
	names := make([]string, len(scripts))
	for i, s := range scripts {
		names[i] = s.Name
	}
	fmt.Fprintf(out, "the customer's scripts: %s\n", strings.Join(names, ", "))
	return nil
}

// expiry describes a token's lifetime, rounded to the minute.
func expiry(at time.Time) string {
	if at.IsZero() {
		return "does not expire"
	}
	return "expires in " + strings.TrimSuffix(time.Until(at).Round(time.Minute).String(), "0s")
}
