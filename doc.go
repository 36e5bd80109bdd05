// Package peliqan is the Go SDK for the Peliqan Partner (Embed) API and the
// tenant REST API behind it.
//
// A SaaS backend that resells Peliqan uses a [PartnerClient] (partner token)
// to create a sub-account ("tenant") per customer and mint its tokens, and a
// [SubAccountClient] (tenant token) to manage that customer's connections,
// start and watch syncs, and read the synced data.
//
//	p, err := peliqan.NewPartnerClient(os.Getenv("PELIQAN_PARTNER_TOKEN"))
//	if err != nil { ... }
//
// # Requests, retries and errors
//
// Every method takes a context first and [RequestOption]s last. One core
// sends every request: paths come from a single routes table (see [Routes]),
// the token goes in "Authorization: JWT <token>", and bodies are JSON.
//
// GET, HEAD, PUT and DELETE are retried on transport errors, 429, 500, 502,
// 503 and 504 following the [RetryPolicy], honouring Retry-After up to a cap.
// POST and PATCH are never retried (the API has no idempotency key), and
// neither are the GETs that trigger work on the server (sync, resync,
// refresh, script trigger): those are also made non-replayable for net/http
// itself.
//
// Failures are typed: an [*APIError] for a non-2xx answer (match categories
// with errors.Is and [ErrNotFound], [ErrUnauthorized], [ErrRateLimited], ...),
// a [*DecodeError] for a success body that cannot be used, a
// [*TransportError] when no answer came, [ErrInvalidArgument] for input
// refused before any request, and the context's own error when it ends.
// Tokens never appear in errors, logs or formatted values.
//
// # Lists
//
// Lists come one page at a time ([Page]) or as a lazy iter.Seq2 that fetches
// pages as it is consumed. The server's "next" link is never followed as
// given: only its page parameters are used, so a token is never sent to a
// host or path a response names.
package peliqan
