package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/routes"
	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// PipelineRun is one run of a connection's pipeline: a sync, a resync or a
// scheduled run.
type PipelineRun struct {
	ID       ID
	ServerID ID
	Status   RunStatus
	// StartedAt and EndedAt are zero when absent or in a form the SDK does
	// not read (Raw keeps them).
	StartedAt time.Time
	EndedAt   time.Time
	// Tables are the per-table results, in the server's order (sorted by
	// name when the server sent an object keyed by table name).
	Tables []RunTable
	// Records is the sum of the tables' record counts; HasRecords says at
	// least one table carried a count.
	Records    int64
	HasRecords bool
	// Message is the run's error or status text: the first non-empty of
	// error, source_error, message and status_message.
	Message string
	// Raw is the run as sent.
	Raw json.RawMessage
}

// RunTable is one table's share of a pipeline run.
type RunTable struct {
	Name string
	// Records is the table's count (records, record_count, rows or
	// row_count); HasRecords says one was sent.
	Records    int64
	HasRecords bool
	Raw        json.RawMessage
}

// UnmarshalJSON decodes a run tolerantly: ids and counts may be strings,
// timestamps ISO 8601 text or Unix seconds, and tables a list or an object
// keyed by table name.
func (r *PipelineRun) UnmarshalJSON(b []byte) error {
	var w struct {
		ID            ID              `json:"id"`
		Server        ID              `json:"server"`
		ServerID      ID              `json:"server_id"`
		Status        svString        `json:"status"`
		Start         json.RawMessage `json:"timestamp_start"`
		End           json.RawMessage `json:"timestamp_end"`
		Tables        json.RawMessage `json:"tables"`
		Error         json.RawMessage `json:"error"`
		SourceError   json.RawMessage `json:"source_error"`
		Message       json.RawMessage `json:"message"`
		StatusMessage json.RawMessage `json:"status_message"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = PipelineRun{ID: w.ID, ServerID: w.ServerID, Status: RunStatus(w.Status),
		StartedAt: svTime(w.Start), EndedAt: svTime(w.End),
		Message: svFirst(svText(w.Error), svText(w.SourceError), svText(w.Message), svText(w.StatusMessage)),
		Raw:     append(json.RawMessage(nil), b...)}
	if r.ServerID == 0 {
		r.ServerID = w.Server
	}
	r.Tables = decodeRunTables(w.Tables)
	for _, t := range r.Tables {
		if t.HasRecords {
			r.Records += t.Records
			r.HasRecords = true
		}
	}
	return nil
}

// decodeRunTables reads [{name, records...}], {"name": {records...}} or
// {"name": 12}; anything else yields no tables (Raw keeps it).
func decodeRunTables(raw json.RawMessage) []RunTable {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil
		}
		out := make([]RunTable, 0, len(list))
		for _, item := range list {
			out = append(out, runTable("", item))
		}
		return out
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		out := make([]RunTable, 0, len(m))
		for _, k := range names {
			out = append(out, runTable(k, m[k]))
		}
		return out
	}
	return nil
}

func runTable(name string, raw json.RawMessage) RunTable {
	t := RunTable{Name: name, Raw: append(json.RawMessage(nil), raw...)}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] != '{' {
		t.Records, t.HasRecords = svCount(raw)
		return t
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return t
	}
	if t.Name == "" {
		t.Name = svFirst(svText(m["name"]), svText(m["table_name"]), svText(m["table"]))
	}
	for _, k := range []string{"records", "record_count", "rows", "row_count"} {
		if n, ok := svCount(m[k]); ok {
			t.Records, t.HasRecords = n, true
			break
		}
	}
	return t
}

// svCount reads a count sent as a number or a numeric string.
func svCount(raw json.RawMessage) (int64, bool) {
	t := strings.TrimSpace(svText(raw))
	if t == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && f >= math.MinInt64 && f <= math.MaxInt64 {
		return int64(f), true
	}
	return 0, false
}

var svTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// svTime reads ISO 8601 text (a time without a zone is UTC) or Unix
// seconds (milliseconds when the number is that large); anything else is
// the zero time.
func svTime(raw json.RawMessage) time.Time {
	t := strings.TrimSpace(svText(raw))
	if t == "" {
		return time.Time{}
	}
	for _, layout := range svTimeLayouts {
		if v, err := time.Parse(layout, t); err == nil {
			return v.UTC()
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && n > 0 {
		if n > 1e12 {
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && f > 0 && f < 1e11 {
		// Fractional seconds, kept to the microsecond (a float64 holds no
		// more for today's dates).
		return time.UnixMicro(int64(math.Round(f * 1e6))).UTC()
	}
	return time.Time{}
}

// ListServerRuns returns one page of a connection's pipeline runs
// (GET /api/servers/{id}/runs/?page=&per_page=), newest first as the server
// orders them.
func (s *SubAccountClient) ListServerRuns(ctx context.Context, serverID ID, lo *ListOptions, opts ...RequestOption) (*Page[PipelineRun], error) {
	p, q, err := serverRunsArgs(serverID, lo)
	if err != nil {
		return nil, err
	}
	return listPage[PipelineRun](ctx, s.c, routes.MustLookup(routes.ListServerRuns), []string{p}, q, opts)
}

// ServerRuns iterates over all of a connection's pipeline runs, fetching
// pages as it is consumed (lo sets the first page and the page size). An
// error is yielded once, and ends the iteration.
func (s *SubAccountClient) ServerRuns(ctx context.Context, serverID ID, lo *ListOptions, opts ...RequestOption) iter.Seq2[*PipelineRun, error] {
	p, q, err := serverRunsArgs(serverID, lo)
	if err != nil {
		return func(yield func(*PipelineRun, error) bool) { yield(nil, err) }
	}
	route := routes.MustLookup(routes.ListServerRuns)
	return paginate(ctx, q, func(ctx context.Context, q url.Values) (*Page[PipelineRun], error) {
		return listPage[PipelineRun](ctx, s.c, route, []string{p}, q, opts)
	})
}

func serverRunsArgs(serverID ID, lo *ListOptions) (string, url.Values, error) {
	p, err := serverID.param("server id")
	if err != nil {
		return "", nil, err
	}
	if err := lo.validate(); err != nil {
		return "", nil, err
	}
	q, err := wire.Query(lo)
	if err != nil {
		return "", nil, invalidArg("ListOptions", "%v", err)
	}
	if q == nil {
		q = url.Values{}
	}
	return p, q, nil
}

// pipelineRunsChunk bounds how many ids one GetPipelineRuns request names,
// so the URL stays short.
const pipelineRunsChunk = 50

// GetPipelineRuns returns the pipeline runs with these ids
// (GET /api/pipeline_runs/?run_id=1,2,3), in the server's order. An id the
// server does not know is simply absent from the result. Repeated ids are
// asked for once; long lists are split over several requests.
func (s *SubAccountClient) GetPipelineRuns(ctx context.Context, ids []ID, opts ...RequestOption) ([]PipelineRun, error) {
	if len(ids) == 0 {
		return nil, invalidArg("ids", "is empty")
	}
	seen := make(map[ID]bool, len(ids))
	uniq := make([]string, 0, len(ids))
	for _, id := range ids {
		p, err := id.param("ids")
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, p)
		}
	}
	route := routes.MustLookup(routes.GetPipelineRuns)
	var out []PipelineRun
	for start := 0; start < len(uniq); start += pipelineRunsChunk {
		chunk := uniq[start:min(start+pipelineRunsChunk, len(uniq))]
		first := url.Values{"run_id": {strings.Join(chunk, ",")}}
		seq := paginate(ctx, first, func(ctx context.Context, q url.Values) (*Page[PipelineRun], error) {
			return listPage[PipelineRun](ctx, s.c, route, nil, q, opts)
		})
		for run, err := range seq {
			if err != nil {
				return nil, err
			}
			out = append(out, *run)
		}
	}
	return out, nil
}

// PipelineRunLogs returns a pipeline run's logs as the server sent them
// (GET /api/pipeline_runs/{id}/logs/; their shape is not documented).
func (s *SubAccountClient) PipelineRunLogs(ctx context.Context, runID ID, opts ...RequestOption) (json.RawMessage, error) {
	p, err := runID.param("run id")
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	if err := s.c.do(ctx, &call{route: routes.MustLookup(routes.PipelineRunLogs), params: []string{p}, out: &out}, opts); err != nil {
		return nil, err
	}
	return out, nil
}
