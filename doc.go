// Package peliqan is the Go SDK for the Peliqan Partner (Embed) API and the
// tenant REST API behind it.
//
// A SaaS backend that resells Peliqan uses a [PartnerClient] (partner token)
// to create a sub-account ("tenant") per customer and mint its tokens, and a
// [SubAccountClient] (that customer's token) to manage the customer's
// connections, start and watch syncs, and read the synced data.
//
//	p, err := peliqan.NewPartnerClient(os.Getenv("PELIQAN_PARTNER_TOKEN"))
//	if err != nil { ... }                          // bad options fail here, never later
//	sa, _, err := p.EnsureSubAccount(ctx, peliqan.SubAccountCreate{ExternalID: "wood_123", ...})
//	t, err := p.SubAccount(peliqan.ByExternalID("wood_123")) // token fetched lazily, cached
//	servers, err := t.ListServers(ctx)
//	res, err := t.SyncServer(ctx, servers[0].ID, nil)
//	run, err := t.WaitForSync(ctx, res, &peliqan.WaitOptions{Progress: report})
//	data, err := t.ConnectionTables(ctx, servers[0].ID)   // where that connection's data landed
//	for row, err := range t.RowsByName(ctx, data.TableName(data.Tables[0].Name), nil) { ... } // streams, constant memory
//
// The main flows:
//   - Provision and hydrate: [PartnerClient.EnsureSubAccount],
//     [PartnerClient.PublishScript], [PartnerClient.PublishQueryTable].
//   - Embed: [PartnerClient.IntegrationToken], [IntegrationTokenHandler] and
//     [Widget] for the "Add connection" button; [VerifyWebhook] and
//     [WebhookHandler] for Peliqan's outbound webhooks.
//   - Fetch data: [PartnerClient.SubAccounts] or
//     [PartnerClient.ForEachSubAccount], then [SubAccountClient.ListServers],
//     [SubAccountClient.ConnectionTables] (the database, schema and tables a
//     connection's data landed in, asked of Peliqan's lookup routes, never
//     guessed from the connection's name), [SubAccountClient.RowsByName] /
//     [RowsAsByName] or [SubAccountClient.Rows] / [RowsAs], and
//     [SubAccountClient.Query] ([TableName.String] quotes names for SQL).
//   - Operate connections: the five functions of Peliqan's browser SDK have
//     server-side twins of the same names ([SubAccountClient.SyncServer],
//     [SubAccountClient.GetServerHealthStatus],
//     [SubAccountClient.GetServerSyncRunStatus],
//     [SubAccountClient.ReAuthoriseServer],
//     [SubAccountClient.ManualRefreshSaltEdge]), plus
//     [SubAccountClient.WaitForSync] and [PartnerClient.ConnectionHealth] to
//     find dead credentials across every customer.
//   - Test your own code: package peliqantest is a stateful in-process fake
//     of the whole API, with fault injection.
//
// # Requests, retries and errors
//
// Every method takes a context first and [RequestOption]s last. One core
// sends every request: paths come from a single routes table (see [Routes],
// and docs/routes.md, generated from it:
// https://github.com/peliqan-community/peliqan-go/blob/main/docs/routes.md;
// a route marked "inferred" is our best reading of Peliqan's docs, and [PartnerClient.Do]
// / [SubAccountClient.Do] let you work around one that turns out wrong), the
// token goes in "Authorization: JWT <token>", and bodies are JSON.
//
// GET, HEAD, PUT and DELETE are retried on transport errors, 429, 500, 502,
// 503 and 504 following the [RetryPolicy], honouring Retry-After up to a cap.
// POST and PATCH are never retried (the API has no idempotency key), and
// neither are the GETs that trigger work on the server (sync, resync,
// refresh, script trigger): those are also made non-replayable for net/http
// itself. A request answered 401 by a tenant client made with
// [PartnerClient.SubAccount] is replayed once with a fresh token: the server
// did not act on it.
//
// Failures are typed: an [*APIError] for a non-2xx answer (match categories
// with errors.Is and [ErrNotFound], [ErrUnauthorized], [ErrRateLimited], ...),
// a [*DecodeError] for a success body that cannot be used, a
// [*TransportError] when no answer came, a few that say more about one
// method's outcome ([*QueryError], [*RowsDecodeError], [*LookupMissError],
// [*ConnectionDataError], and [*SubAccountError] / [*PartnerError] around
// the error of one customer or partner account in a fan-out), [ErrInvalidArgument] for input
// refused before any request, and the context's own error when it ends.
// Tokens never appear in errors, logs or formatted values.
//
// # Conventions
//
// The API follows one style, so a new method reads like the others:
//   - The context comes first; a nil one is [ErrInvalidArgument].
//   - Required input is a struct passed by value ([SubAccountCreate],
//     [ServerCreate], [ScriptCreate]); optional settings of one call are a
//     struct passed by pointer, nil meaning "all defaults" ([*ListOptions],
//     [*RowsOptions], [*SyncOptions], [*WaitOptions], ...). The SDK never
//     changes a struct it is given.
//   - Settings of a client or handler are functional options ([Option],
//     [RequestOption], [ForEachOption], [TokenHandlerOption],
//     [WebhookOption]); every one that can be wrong reports it, and the
//     constructor returns that error (it never panics and does no I/O).
//   - Iterators and callbacks hand out pointers to structs (*SubAccount,
//     *ConnectionReport, *PipelineRun); rows are maps ([Row]) or your T.
//   - A result beside an error happens in one case only: a write the server
//     accepted whose answer could not be read in full returns what it could
//     read (the new object's ID first) with a [*DecodeError]; do not repeat
//     that write. Everywhere else, an error comes with a nil result (a wait's
//     last state reached its Progress callback).
//   - Clients own no connections: those built without WithHTTPClient share
//     one pool ([CloseIdleConnections] releases its idle connections).
//
// # Lists
//
// Lists come one page at a time ([Page]) or as a lazy iter.Seq2 that fetches
// pages as it is consumed. The server's "next" link is never followed as
// given: only its page parameters are used, so a token is never sent to a
// host or path a response names.
package peliqan
