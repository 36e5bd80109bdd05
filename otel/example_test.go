package peliqanotel_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	peliqan "github.com/peliqan-community/peliqan-go"
	peliqanotel "github.com/peliqan-community/peliqan-go/otel"
	"github.com/peliqan-community/peliqan-go/peliqantest"
)

// Wiring the hook to the stdout exporter: every call of the client is
// printed as a span when the provider flushes. Span ids and times differ on
// every run, so this example's output is not checked.
func Example() {
	// A fake Peliqan, so the example runs anywhere. Use
	// peliqan.NewPartnerClient(os.Getenv("PELIQAN_PARTNER_TOKEN"), ...) for
	// the real service.
	fake, err := peliqantest.New(peliqantest.WithFixture(peliqantest.Generate(1, 1, 1, 10)))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	exporter, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout), stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	defer func() { _ = tp.Shutdown(context.Background()) }() // flushes the spans
	otel.SetTracerProvider(tp)

	hook, err := peliqanotel.Hook() // the global providers; or WithTracerProvider(tp)
	if err != nil {
		log.Fatal(err)
	}
	p, err := fake.PartnerClient(peliqan.WithCallHook(hook))
	if err != nil {
		log.Fatal(err)
	}

	ctx, span := tp.Tracer("example").Start(context.Background(), "list customers")
	defer span.End()
	subs, err := p.ListSubAccounts(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(subs.Items), "customer")
}

// The span of a call the SDK retried once, and of one that failed.
func ExampleHook() {
	fake, err := peliqantest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	hook, err := peliqanotel.Hook(peliqanotel.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	p, err := fake.PartnerClient(peliqan.WithCallHook(hook))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	fake.FailNext(peliqan.RouteServerTypes, 1, peliqantest.StatusFault(http.StatusServiceUnavailable, ""))
	_, _ = p.ServerTypes(ctx)
	_, _ = p.SubAccountInfo(ctx, 404)

	for _, s := range spans.GetSpans() {
		fmt.Println(strings.TrimSpace(fmt.Sprintln(s.Name, s.Status.Code, s.Status.Description)))
		for _, kv := range s.Attributes {
			if kv.Key != "peliqan.retry_wait" { // a duration: differs between runs
				fmt.Printf("  %s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
		for _, e := range s.Events {
			fmt.Printf("  event %s:", e.Name)
			for _, kv := range e.Attributes {
				fmt.Printf(" %s=%s", kv.Key, kv.Value.Emit())
			}
			fmt.Println()
		}
	}
	// Output:
	// GET /api/servertypes/ Unset
	//   http.request.method=GET
	//   url.template=/api/servertypes/
	//   peliqan.route=ServerTypes
	//   peliqan.attempts=2
	//   peliqan.token_refreshed=false
	//   http.response.status_code=200
	//   http.request.resend_count=1
	//   event peliqan.retry: peliqan.attempt=1 http.response.status_code=503 error.type=503
	// GET /api/partner/sub-accounts/{id}/info/ Error not_found
	//   http.request.method=GET
	//   url.template=/api/partner/sub-accounts/{id}/info/
	//   peliqan.route=SubAccountInfo
	//   peliqan.attempts=1
	//   peliqan.token_refreshed=false
	//   http.response.status_code=404
	//   error.type=not_found
	//   event exception: exception.type=*peliqan.APIError exception.message=peliqan: GET /api/partner/sub-accounts/{id}/info/: 404 Not Found
}
