package peliqantest

import (
	"errors"
	"strconv"
	"strings"
)

// selectQuery is the one statement the fake's SQL evaluator understands:
// SELECT * FROM <table> [LIMIT n], where <table> is table, schema.table or
// db.schema.table, each part optionally double-quoted.
type selectQuery struct {
	parts []string
	limit int // -1: none
}

var errUnsupportedSQL = errors.New("line 1:1: peliqantest only evaluates SELECT * FROM <table> [LIMIT n]")

func parseSelect(sql string) (selectQuery, error) {
	s := strings.TrimSpace(sql)
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	toks := strings.Fields(s)
	if len(toks) != 4 && len(toks) != 6 {
		return selectQuery{}, errUnsupportedSQL
	}
	if !strings.EqualFold(toks[0], "select") || toks[1] != "*" || !strings.EqualFold(toks[2], "from") {
		return selectQuery{}, errUnsupportedSQL
	}
	parts, ok := splitIdent(toks[3])
	if !ok {
		return selectQuery{}, errUnsupportedSQL
	}
	q := selectQuery{parts: parts, limit: -1}
	if len(toks) == 6 {
		n, err := strconv.Atoi(toks[5])
		if !strings.EqualFold(toks[4], "limit") || err != nil || n < 0 {
			return selectQuery{}, errUnsupportedSQL
		}
		q.limit = n
	}
	return q, nil
}

// splitIdent splits a dotted identifier of one to three parts, removing
// double quotes.
func splitIdent(s string) ([]string, bool) {
	raw := strings.Split(s, ".")
	if len(raw) > 3 {
		return nil, false
	}
	out := make([]string, 0, len(raw))
	for _, p := range raw {
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = p[1 : len(p)-1]
		}
		if p == "" || strings.ContainsAny(p, `"'();,`) {
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}
