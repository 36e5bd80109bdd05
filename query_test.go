package peliqan

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const trinoAnswer = `{"records": [[1, "a@x.io", 12.5, null], [9007199254740993, "b@x.io", 0, true]],
	"columns": [["id", "bigint"], ["email", "varchar"], ["total", "decimal(10,2)"], ["vip", "boolean"]],
	"error": null}`

func TestQuery(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	n := dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "",
		`{"query": "SELECT id, email FROM orders WHERE total > 10 AND x < 3"}`, 200, trinoAnswer)
	res, err := s.Query(context.Background(), "SELECT id, email FROM orders WHERE total > 10 AND x < 3", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n.Load())
	assert.Equal(t, []Column{{"id", "bigint"}, {"email", "varchar"}, {"total", "decimal(10,2)"}, {"vip", "boolean"}}, res.Columns)
	assert.Equal(t, [][]any{
		{json.Number("1"), "a@x.io", json.Number("12.5"), nil},
		{json.Number("9007199254740993"), "b@x.io", json.Number("0"), true},
	}, res.Rows)

	type rec struct {
		ID    int64   `json:"id"`
		Email string  `json:"email"`
		Total float64 `json:"total"`
		VIP   bool    `json:"vip"`
	}
	recs, err := ScanQuery[rec](res)
	require.NoError(t, err)
	assert.Equal(t, []rec{{1, "a@x.io", 12.5, false}, {9007199254740993, "b@x.io", 0, true}}, recs)
	maps, err := ScanQuery[map[string]any](res)
	require.NoError(t, err)
	assert.Equal(t, "b@x.io", maps[1]["email"])
}

func TestQueryOptionsAndQueryAs(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "",
		`{"query": "select 1 as n", "db_name": "dw_42", "schema_name": "public"}`, 200,
		`{"records": [[1]], "columns": [{"name": "n", "type": "integer"}]}`)
	type one struct {
		N int `json:"n"`
	}
	got, err := QueryAs[one](context.Background(), s, "select 1 as n", &QueryOptions{Database: "dw_42", Schema: "public"})
	require.NoError(t, err)
	assert.Equal(t, []one{{1}}, got)
}

func TestQueryServerErrorIn200(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"string": `{"records": null, "columns": null, "error": "line 1:8: Column 'nope' cannot be resolved"}`,
		"object": `{"error": {"message": "line 1:8: Column 'nope' cannot be resolved"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, mt := dtClient(t)
			n := dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "", `{"query": "select nope"}`, 200, body)
			_, err := s.Query(context.Background(), "select nope", nil)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, "line 1:8: Column 'nope' cannot be resolved", qe.Message)
			assert.ErrorIs(t, err, ErrValidation, "the query was not accepted")
			assert.NotErrorAs(t, err, new(*APIError), "no HTTP status failed")
			assert.Contains(t, qe.Error(), "cannot be resolved")
			assert.Equal(t, 1, qe.Attempts)
			assert.EqualValues(t, 1, n.Load(), "a POST is sent once")
		})
	}
}

func TestQueryErrorMessage(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		``: "", `null`: "", `""`: "", `false`: "", `{}`: "", `[]`: "", `" "`: "",
		`"boom"`: "boom", `{"message": "m"}`: "m", `{"detail": "d"}`: "d", `{"x": 1}`: `{"x": 1}`,
		`["a"]`: `["a"]`, `true`: "true", `0`: "", `0.0`: "", `-0`: "", `1`: "1", `-2`: "-2",
	} {
		assert.Equal(t, want, queryErrorMessage([]byte(raw)), raw)
	}
}

func TestQueryEmptyErrorIsSuccess(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "", `{"query": "select 1"}`, 200,
		`{"records": [], "columns": [["x", "integer"]], "error": ""}`)
	res, err := s.Query(context.Background(), "select 1", nil)
	require.NoError(t, err)
	assert.Empty(t, res.Rows)
	assert.Len(t, res.Columns, 1)
}

func TestQueryHTTPErrorAndBadBody(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "", `{"query": "select 1"}`, 400,
		`{"error": "ERROR_QUERY", "detail": "syntax"}`)
	_, err := s.Query(context.Background(), "select 1", nil)
	assert.ErrorIs(t, err, ErrValidation)

	s2, mt2 := dtClient(t)
	dtExpect(t, mt2, "POST", "/api/database/resource/trino/records/", "", `{"query": "select 1"}`, 200, `<html>`)
	_, err = s2.Query(context.Background(), "select 1", nil)
	assert.ErrorIs(t, err, ErrMalformedResponse)
}

func TestQueryInvalidArguments(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	_, err := s.Query(context.Background(), "  \n", nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = QueryAs[map[string]any](context.Background(), nil, "select 1", nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = ScanQuery[map[string]any](nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, mt.GetTotalCallCount())
}

// TestScanQueryReadsRows: ScanQuery decodes from Rows, so a result built
// or filtered by the caller scans as it reads. (Before, it read a private
// copy of the answer: a hand-built result scanned to nothing.)
func TestScanQueryReadsRows(t *testing.T) {
	t.Parallel()
	res := &QueryResult{
		Columns: []Column{{"id", "bigint"}, {"email", "varchar"}, {"total", "decimal"}, {"tags", "json"}, {"vip", "boolean"}},
		Rows: [][]any{
			{json.Number("9007199254740993"), "caf\u00e9 \"q\" <b>&\n", json.Number("12.50"), map[string]any{"a": json.Number("1e2"), "b": []any{"x", nil}}, true},
			{json.Number("-0.5E-3"), "\xff", nil, []any{}, false},
			{json.Number("7")}, // fewer values than columns: the rest stay zero
			{json.Number("8"), "x", json.Number("1"), nil, nil, "ignored: no column"},
			{},
		},
	}
	type rec struct {
		ID    json.Number     `json:"id"`
		Email string          `json:"email"`
		Total *json.Number    `json:"total"`
		Tags  json.RawMessage `json:"tags"`
		VIP   bool            `json:"vip"`
	}
	got, err := ScanQuery[rec](res)
	require.NoError(t, err)
	total := json.Number("12.50")
	one := json.Number("1")
	assert.Equal(t, []rec{
		{ID: "9007199254740993", Email: "caf\u00e9 \"q\" <b>&\n", Total: &total, Tags: json.RawMessage(`{"a":1e2,"b":["x",null]}`), VIP: true},
		{ID: "-0.5E-3", Email: "\ufffd", Tags: json.RawMessage(`[]`)},
		{ID: "7"},
		{ID: "8", Email: "x", Total: &one, Tags: json.RawMessage(`null`)},
		{},
	}, got)

	res.Rows = res.Rows[:1]
	maps, err := ScanQuery[map[string]any](res)
	require.NoError(t, err)
	require.Len(t, maps, 1)
	assert.Equal(t, float64(9007199254740992), maps[0]["id"], "map values decode as encoding/json does")

	type ints struct {
		ID int64 `json:"id"`
	}
	exact, err := ScanQuery[ints](&QueryResult{Columns: []Column{{"id", ""}}, Rows: [][]any{{json.Number("9007199254740993")}}})
	require.NoError(t, err)
	assert.Equal(t, int64(9007199254740993), exact[0].ID, "numbers reach T exactly")
}

// TestScanQueryRefusesBadNumbers: a json.Number that is not a number is an
// error, never text spliced into the record (it could add members).
func TestScanQueryRefusesBadNumbers(t *testing.T) {
	t.Parallel()
	type rec struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	for _, bad := range []string{`1,"email":"evil"`, ``, `01`, `1.`, `.5`, `1e`, `+1`, `NaN`, `0x10`, `"1"`, `true`} {
		res := &QueryResult{Columns: []Column{{"id", ""}, {"email", ""}}, Rows: [][]any{{json.Number(bad), "ok"}}}
		_, err := ScanQuery[rec](res)
		assert.Error(t, err, bad)
	}
	for _, good := range []string{`0`, `-0`, `12`, `-1.25`, `1e9`, `2E+3`, `5e-1`, `0.0`} {
		assert.True(t, isJSONNumber(good), good)
		assert.True(t, json.Valid([]byte(good)), good)
	}
}

func TestQueryDecodesEdgeShapes(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "", `{"query": "select 1"}`, 200,
		`{"records": [null, [], [{"n": 1.0}, [2], "\u00e9"]]}`+"\n")
	res, err := s.Query(context.Background(), "select 1", nil)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{}, {}, {map[string]any{"n": json.Number("1.0")}, []any{json.Number("2")}, "é"}}, res.Rows)
	assert.Equal(t, []Column{}, res.Columns)

	for _, body := range []string{`{"records": [[1]]} x`, `{"records": [[1]]}{}`, `{"records": [[1]`, `{"records": "x"}`} {
		s, mt := dtClient(t)
		dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "", `{"query": "select 1"}`, 200, body)
		_, err := s.Query(context.Background(), "select 1", nil)
		assert.ErrorIs(t, err, ErrMalformedResponse, body)
	}
	s, mt = dtClient(t)
	dtExpect(t, mt, "POST", "/api/database/resource/trino/records/", "", `{"query": "select 1"}`, 200, `{}`)
	res, err = s.Query(context.Background(), "select 1", nil)
	require.NoError(t, err)
	assert.NotNil(t, res.Rows)
	assert.Empty(t, res.Rows)
}

// FuzzQueryDecoders: columns, the error member and schedules read from
// settings never panic on whatever the server sends.
func FuzzQueryDecoders(f *testing.F) {
	for _, seed := range []string{`["id", "bigint"]`, `{"name": "n", "type": "int"}`, `[]`, `[1, [2]]`, `"x"`,
		`{"schedule": true, "run_interval": "60", "weekdays": [0, 9], "start_time": "25:00"}`, `null`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Column
		_ = c.UnmarshalJSON(b)
		_ = queryErrorMessage(b)
		if s := scheduleFromSettings(b); s != nil && !s.Disabled {
			for _, d := range s.Weekdays {
				assert.True(t, d >= time.Sunday && d <= time.Saturday)
			}
		}
		var sc Script
		_ = json.Unmarshal(b, &sc)
		var run ScriptRun
		_ = json.Unmarshal(b, &run)
	})
}
