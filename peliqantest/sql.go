package peliqantest

import (
	"errors"
	"strconv"
	"strings"
)

// selectQuery is the one statement the fake's SQL evaluator understands:
// SELECT * FROM <table> [LIMIT n] [;], where <table> is table,
// schema.table or db.schema.table. Each part is a bare identifier
// ([A-Za-z_][A-Za-z0-9_]*) or a double-quoted one in which "" stands for
// one quote, as in Trino: "a""; DROP" names the table a"; DROP.
type selectQuery struct {
	parts []string
	limit int // -1: none
}

var errUnsupportedSQL = errors.New("line 1:1: peliqantest only evaluates SELECT * FROM <table> [LIMIT n]")

// sqlToken is a word (keyword, bare identifier or number), a quoted
// identifier, or one of the symbols * . ;
type sqlToken struct {
	text   string
	quoted bool
}

func (t sqlToken) is(s string) bool { return !t.quoted && strings.EqualFold(t.text, s) }

func tokenizeSQL(sql string) ([]sqlToken, error) {
	var toks []sqlToken
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '*' || c == '.' || c == ';':
			toks = append(toks, sqlToken{text: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(sql) {
					return nil, errUnsupportedSQL // unterminated
				}
				if sql[i] == '"' {
					if i+1 < len(sql) && sql[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(sql[i])
				i++
			}
			if b.Len() == 0 {
				return nil, errUnsupportedSQL // "" is not an identifier
			}
			toks = append(toks, sqlToken{text: b.String(), quoted: true})
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			toks = append(toks, sqlToken{text: sql[i:j]})
			i = j
		default:
			return nil, errUnsupportedSQL
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func parseSelect(sql string) (selectQuery, error) {
	toks, err := tokenizeSQL(sql)
	if err != nil {
		return selectQuery{}, err
	}
	if n := len(toks); n > 0 && toks[n-1].text == ";" && !toks[n-1].quoted {
		toks = toks[:n-1]
	}
	if len(toks) < 4 || !toks[0].is("select") || !toks[1].is("*") || !toks[2].is("from") {
		return selectQuery{}, errUnsupportedSQL
	}
	q := selectQuery{limit: -1}
	i := 3
	for {
		t := toks[i]
		if !t.quoted && !isBareIdent(t.text) {
			return selectQuery{}, errUnsupportedSQL
		}
		q.parts = append(q.parts, t.text)
		i++
		if i < len(toks) && toks[i].is(".") {
			i++
			if i >= len(toks) || len(q.parts) == 3 {
				return selectQuery{}, errUnsupportedSQL
			}
			continue
		}
		break
	}
	switch len(toks) - i {
	case 0:
	case 2:
		n, err := strconv.Atoi(toks[i+1].text)
		if !toks[i].is("limit") || toks[i+1].quoted || err != nil || n < 0 {
			return selectQuery{}, errUnsupportedSQL
		}
		q.limit = n
	default:
		return selectQuery{}, errUnsupportedSQL
	}
	return q, nil
}

func isBareIdent(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}
