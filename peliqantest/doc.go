// Package peliqantest is a stateful, in-memory fake of the Peliqan Partner
// (Embed) API and the tenant REST API behind it, for testing code that
// talks to Peliqan: with this SDK, with another language's client, or with
// curl.
//
//	srv := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Generate(1, 3, 2, 50)))
//	p, err := srv.PartnerClient() // a real *peliqan.PartnerClient, zero-wait retries
//
// The fake follows the wire contract, not the SDK's methods: it dispatches
// every request through the SDK's single routes table (listed with method,
// path, status, retry rule and evidence in docs/routes.md,
// https://github.com/peliqan-community/peliqan-go/blob/main/docs/routes.md)
// and answers each route with the exact status the real service uses (200
// for creates, 201 for a script run, 204 for cell updates and deletes),
// because clients written for Peliqan check them.
//
// # Tokens and tenants
//
// Tokens are real HS256 JWTs signed by the fake (claims account_id,
// token_type, exp). The partner token (PartnerToken) opens the partner
// routes and, on tenant routes, the partner's own empty account. An
// identity token opens only its own sub-account: another tenant's objects
// answer 404, as Peliqan's scope errors do. Identity tokens minted without
// expire=false, and integration tokens, expire after WithTokenLifetime (30
// minutes by default) on the fake's clock (WithClock, ManualClock); expired
// tokens get djangorestframework-jwt's 401 "Signature has expired.".
// Integrate creates the sub-account on first use of an external_id.
//
// # Behaviour
//
//   - A sync (or resync) starts a pipeline run that stays RUNNING for
//     WithSyncDuration, then ends COMPLETED, COMPLETED_WITH_ERRORS or ERROR
//     (WithSyncOutcome, SetSyncOutcome). While it runs the connection's
//     health_status is CHECKING; at the end it becomes OK,
//     COMPLETED_WITH_ERRORS or ERROR, and each synced table gains
//     WithRowsPerSync rows (half on errors, none on ERROR). A sync while one
//     runs starts nothing and names the running one. Runs end lazily, on the
//     next request, so the fake needs no background goroutines.
//   - The status routes accept task_id, pipeline_run_id and timeout; with
//     the real clock, timeout holds the answer until the run ends or the
//     timeout passes (then ERROR_PIPELINE_RUN_TIMEOUT). is_async=false
//     makes a sync answer when its run is done.
//   - An OAuth connection starts AUTHORIZING with an oauth_url and becomes OK
//     on CompleteOAuth. MarkNeedsReauth makes it RE_AUTHORISING (syncs are
//     refused); the re-authorise route returns an auth_uri, and
//     CompleteOAuth then makes it RE_AUTHORISED. SaltEdge connections answer
//     the refresh route with a refresh_url. WithOAuthCompletion finishes
//     these flows by themselves after a delay. A connection can be deleted
//     and an invite sent (Invites lists them). AddWebhook sends signed
//     webhooks for these events, each URL from a goroutine Close stops.
//   - Each sub-account has a warehouse database "dw_<id>" in which every
//     connection's tables live in a schema of its own. Peliqan does not
//     document how it names these schemas, so the fake's names are
//     generated and deliberately unlike the connection's name (for example
//     "pipedrive_c14" for a connection named "CRM"): a client must ask
//     where the data is, never derive it. Two sources say it, as at
//     Peliqan: the lookup routes (GET /api/database/resource/lookup/
//     {connection,database,schema,table}/ with a JSON body, as Peliqan's own
//     client sends it; a connection's database and schema are where its
//     data lands; no match is a 404), and the connection's optional
//     target_schema member ({"schema_name": ...}), which some connections
//     do not send (ConnectionFixture.OmitTargetSchema; Generate leaves it
//     out of one connection in three). Connections carry no "target" (the
//     fake's warehouse is not itself a connection) and no database_id.
//   - Rows are generated on demand from a seed, so a million-row table is
//     cheap. The SQL route evaluates SELECT * FROM <table> [LIMIT n], where
//     each part of the table's name may be double-quoted with "" for a
//     quote inside (as in Trino); any other SQL answers 200 with "error"
//     set, as Peliqan's Trino route does.
//   - A path without its trailing slash answers as Django does: 301 to the
//     slashed path for GET and HEAD, a bare HTML 500 for other methods.
//   - Errors come in Peliqan's shapes: DRF's {"detail": "..."}, field errors
//     {"field": ["..."]}, and service errors {"error": "CODE", "detail":
//     "({'error': 'CODE', 'message': '...'}, 'TraceId: ...')"}.
//
// # Inspection and faults
//
// Requests returns what the fake received (Authorization redacted): the
// WithRecordLimit most recent requests (10,000 by default, about 1.4 KB
// each without a body; 0 keeps none). Count, Counts and RunsStarted stay
// exact whatever the limit: requests per route and per status, requests
// answered 429 by the rate limit, and pipeline runs started per connection
// (for checks such as "exactly one run per connection"). Another process
// reads the same counts as JSON from CountsPath, GET /_peliqantest/counts:
// no token, loopback peers only. Paths under ReservedPathPrefix
// (/_peliqantest/) are the fake's own: no Peliqan route uses the prefix,
// and requests to it are never recorded, counted, rate-limited or faulted.
//
// FailNext and AddFaultRule inject failures: a status with a body and
// Retry-After, added latency, a connection reset before the response or in
// the middle of the body, truncated JSON, a proxy's HTML error page, an
// oversized body. Rules are drawn from a seeded source (WithFaultSeed), so a
// run's faults repeat; FaultMix spreads a failure rate evenly over several
// faults. A constant server latency, for benchmarks, is a rule that always
// fires:
//
//	srv.AddFaultRule(peliqantest.FaultRule{Probability: 1, Fault: peliqantest.LatencyFault(20 * time.Millisecond)})
//
// # Rate limit
//
// WithRateLimit(perSecond, burst) gives the partner a token bucket that
// every request to a Peliqan route draws from, whichever token it carries
// (the partner's or any sub-account's: they are all this partner's). A
// request over the limit gets 429, Django REST framework's {"detail":
// "Request was throttled. Expected available in N seconds."} and
// Retry-After: N, the wait for the next token in whole seconds (at least
// 1). It is recorded and counted but not acted on. The bucket refills on
// the fake's clock, so a ManualClock makes the answers exact. Peliqan
// documents no rate limit; this tests how a client paces itself.
//
// # Standalone
//
//	go run ./peliqantest/cmd/peliqan-fake -addr 127.0.0.1:8080 -seed 1
//
// prints PELIQAN_BASE_URL and PELIQAN_PARTNER_TOKEN (stable for a seed) and
// serves until interrupted. Its flags shape the data (-tenants,
// -connections, -rows), the runs (-sync-duration), and the trouble a client
// meets: -rate-limit and -rate-burst, -fail-rate with -fail-kinds and
// -fail-seed (a seeded mix of 5xx, resets and 429s), -latency, and
// -record-limit. The fake only listens on loopback addresses.
package peliqantest
