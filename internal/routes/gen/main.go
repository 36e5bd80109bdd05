// Command gen writes docs/routes.md from the routes table. Run it through
// go generate ./internal/routes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

func main() {
	out := flag.String("o", "docs/routes.md", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, routes.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
