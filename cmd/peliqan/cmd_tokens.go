package main

import (
	"context"
	"time"

	"github.com/peliqan-community/peliqan-go"
	"github.com/spf13/cobra"
)

// tokenRow is a minted token, as printed.
type tokenRow struct {
	customer  string
	kind      string
	expiring  bool
	expiresAt time.Time
	token     string
}

func tokenColumns(reveal bool) []column[tokenRow] {
	return []column[tokenRow]{
		{"customer", func(t tokenRow) any { return t.customer }},
		{"kind", func(t tokenRow) any { return t.kind }},
		{"expiring", func(t tokenRow) any { return t.expiring }},
		{"expires_at", func(t tokenRow) any { return t.expiresAt }},
		{"token", func(t tokenRow) any { return tokenText(t.token, reveal) }},
	}
}

func (a *app) tokensCommand() *cobra.Command {
	var reveal, expiring bool
	identity := a.leaf(&cobra.Command{
		Use:   "identity CUSTOMER [--expiring] [--reveal]",
		Short: "Mint a customer's identity token (masked unless --reveal)",
		Long: `Mint a customer's identity token: it opens that customer's whole API, so
it is masked unless --reveal. The default is the non-expiring server-side
token; --expiring asks for the short-lived one.

` + customerHelp + `

Fields: ` + fieldNames(tokenColumns(false)),
		Args: exactArgs(1, "a CUSTOMER (external id, or id:N)"),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		ref, err := parseCustomer(args[0])
		if err != nil {
			return err
		}
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		tok, err := p.SubAccountToken(ctx, ref, &peliqan.TokenOptions{Expiring: expiring})
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), tokenColumns(reveal), tokenRow{
			customer: args[0], kind: "identity", expiring: tok.Expiring, expiresAt: tok.ExpiresAt, token: tok.Token,
		})
	}, peliqan.RouteSubAccountToken)
	identity.Flags().BoolVar(&reveal, "reveal", false, "print the token itself")
	identity.Flags().BoolVar(&expiring, "expiring", false, "the short-lived token (for client-side use)")

	var in peliqan.Integration
	var revealIntegration bool
	integration := a.leaf(&cobra.Command{
		Use:   "integration --external-id ID --first-name F --last-name L --email E --company C",
		Short: "Mint an integration token for the embedded widget (masked unless --reveal)",
		Long: `Mint a short-lived integration token for the "Add connection" widget in
one customer's browser. Peliqan creates the customer from these fields when
the external id is new. The token is masked unless --reveal.

Fields: ` + fieldNames(tokenColumns(false)),
	}, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		p, _, err := a.selectedPartner()
		if err != nil {
			return err
		}
		tok, err := p.IntegrationToken(ctx, in)
		if err != nil {
			return err
		}
		return writeOne(a.stdout, a.outputFormat(), tokenColumns(revealIntegration), tokenRow{
			customer: in.ExternalID, kind: "integration", expiring: true, expiresAt: tok.ExpiresAt, token: tok.Token,
		})
	}, peliqan.RouteIntegrationToken)
	fl := integration.Flags()
	fl.StringVar(&in.ExternalID, "external-id", "", "your id for the customer (required)")
	fl.StringVar(&in.FirstName, "first-name", "", "owner's first name (required)")
	fl.StringVar(&in.LastName, "last-name", "", "owner's last name (required)")
	fl.StringVar(&in.Email, "email", "", "owner's e-mail address (required)")
	fl.StringVar(&in.CompanyName, "company", "", "company name (required)")
	fl.BoolVar(&revealIntegration, "reveal", false, "print the token itself")

	return group("tokens", "Mint customer tokens (masked unless --reveal)", identity, integration)
}
