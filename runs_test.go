package peliqan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListServerRunsPage(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/runs/", srvJSON(200, `{"data": [{"id": 900, "status": "COMPLETED"}, {"id": 899, "status": "ERROR"}], "next": 3}`))
	p, err := c.ListServerRuns(context.Background(), 12, &ListOptions{Page: 2, PerPage: 2})
	require.NoError(t, err)
	require.Len(t, p.Items, 2)
	assert.Equal(t, ID(900), p.Items[0].ID)
	assert.Equal(t, RunCompleted, p.Items[0].Status)
	assert.Equal(t, RunError, p.Items[1].Status)
	assert.True(t, p.HasNext)
	assert.Equal(t, 3, p.NextPage)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/servers/12/runs/", Query: srvQ("page", "2", "per_page", "2"), Auth: "JWT tenant-tok"}}, m.reqs())
}

func TestServerRunsIterates(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/runs/",
		srvJSON(200, `{"data": [{"id": 3}, {"id": 2}], "next": "https://api.test/base/api/servers/12/runs/?page=2&per_page=2"}`),
		srvJSON(200, `{"data": [{"id": 1}], "next": null}`))
	var ids []ID
	for r, err := range c.ServerRuns(context.Background(), 12, &ListOptions{PerPage: 2}) {
		require.NoError(t, err)
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []ID{3, 2, 1}, ids)
	rs := m.reqs()
	require.Len(t, rs, 2)
	assert.Equal(t, srvQ("per_page", "2"), rs[0].Query)
	assert.Equal(t, srvQ("page", "2", "per_page", "2"), rs[1].Query)
}

func TestServerRunsStopsWhenConsumerStops(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/runs/", srvJSON(200, `{"data": [{"id": 3}, {"id": 2}], "next": 2}`))
	for range c.ServerRuns(context.Background(), 12, nil) {
		break
	}
	assert.Equal(t, 1, m.count(), "no page is fetched ahead")
}

func TestServerRunsInvalidInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	n := 0
	for r, err := range c.ServerRuns(context.Background(), 12, &ListOptions{PerPage: -1}) {
		n++
		assert.Nil(t, r)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	assert.Equal(t, 1, n, "the error is yielded once")
	_, err := c.ListServerRuns(context.Background(), 12, &ListOptions{Page: -1})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, m.count())
}

func TestPipelineRunDecoderShapes(t *testing.T) {
	t.Parallel()
	t.Run("tables list, ISO times", func(t *testing.T) {
		t.Parallel()
		var r PipelineRun
		require.NoError(t, json.Unmarshal([]byte(`{"id": "900", "server": 12, "status": "COMPLETED_WITH_ERRORS",
			"timestamp_start": "2026-11-23T08:00:00Z", "timestamp_end": "2026-11-23T08:01:30.5+01:00",
			"tables": [{"name": "deals", "records": 10}, {"table_name": "contacts", "row_count": "5"}, {"name": "notes"}],
			"error": null, "source_error": "", "message": "2 tables failed"}`), &r))
		assert.Equal(t, ID(900), r.ID)
		assert.Equal(t, ID(12), r.ServerID)
		assert.Equal(t, RunCompletedWithErrors, r.Status)
		assert.Equal(t, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), r.StartedAt)
		assert.Equal(t, time.Date(2026, 11, 23, 7, 1, 30, 5e8, time.UTC), r.EndedAt)
		require.Len(t, r.Tables, 3)
		assert.Equal(t, RunTable{Name: "deals", Records: 10, HasRecords: true, Raw: r.Tables[0].Raw}, r.Tables[0])
		assert.Equal(t, "contacts", r.Tables[1].Name)
		assert.Equal(t, int64(5), r.Tables[1].Records)
		assert.False(t, r.Tables[2].HasRecords)
		assert.Equal(t, int64(15), r.Records)
		assert.True(t, r.HasRecords)
		assert.Equal(t, "2 tables failed", r.Message)
	})
	t.Run("tables object, naive and epoch times", func(t *testing.T) {
		t.Parallel()
		var r PipelineRun
		require.NoError(t, json.Unmarshal([]byte(`{"id": 1, "server_id": 4, "status": "SOMETHING_NEW",
			"timestamp_start": "2026-11-23 08:00:00.123456", "timestamp_end": 1795420800,
			"tables": {"b": {"record_count": 2}, "a": 3, "c": {"rows": 1.0}}, "status_message": "fine"}`), &r))
		assert.Equal(t, ID(4), r.ServerID)
		assert.Equal(t, RunStatus("SOMETHING_NEW"), r.Status)
		assert.False(t, r.Status.IsKnown())
		assert.Equal(t, time.Date(2026, 11, 23, 8, 0, 0, 123456000, time.UTC), r.StartedAt)
		assert.Equal(t, time.Unix(1795420800, 0).UTC(), r.EndedAt)
		require.Len(t, r.Tables, 3)
		assert.Equal(t, []string{"a", "b", "c"}, []string{r.Tables[0].Name, r.Tables[1].Name, r.Tables[2].Name})
		assert.Equal(t, int64(6), r.Records)
		assert.Equal(t, "fine", r.Message)
	})
	t.Run("nothing optional, odd members", func(t *testing.T) {
		t.Parallel()
		var r PipelineRun
		require.NoError(t, json.Unmarshal([]byte(`{"id": 2, "tables": "n/a", "timestamp_start": "yesterday", "timestamp_end": 1795420800123, "error": {"code": 2}}`), &r))
		assert.Empty(t, r.Tables)
		assert.False(t, r.HasRecords)
		assert.True(t, r.StartedAt.IsZero())
		assert.Equal(t, time.UnixMilli(1795420800123).UTC(), r.EndedAt)
		assert.Equal(t, `{"code":2}`, r.Message)
		assert.JSONEq(t, `{"id": 2, "tables": "n/a", "timestamp_start": "yesterday", "timestamp_end": 1795420800123, "error": {"code": 2}}`, string(r.Raw))
	})
	t.Run("bad id", func(t *testing.T) {
		t.Parallel()
		var r PipelineRun
		assert.Error(t, json.Unmarshal([]byte(`{"id": "x"}`), &r))
	})
}

func TestRunStatusHelpers(t *testing.T) {
	t.Parallel()
	table := []struct {
		s                                             RunStatus
		inProgress, terminal, succeeded, errs, failed bool
	}{
		{RunRunning, true, false, false, false, false},
		{RunInProgress, true, false, false, false, false},
		{RunSyncInProgress, true, false, false, false, false},
		{RunCompleted, false, true, true, false, false},
		{RunCompletedWithErrors, false, true, false, true, false},
		{RunError, false, true, false, true, true},
		{RunInternalError, false, true, false, true, true},
	}
	for _, tc := range table {
		assert.True(t, tc.s.IsKnown(), tc.s)
		assert.Equal(t, tc.inProgress, tc.s.InProgress(), tc.s)
		assert.Equal(t, tc.terminal, tc.s.IsTerminal(), tc.s)
		assert.Equal(t, tc.succeeded, tc.s.Succeeded(), tc.s)
		assert.Equal(t, tc.errs, tc.s.HasErrors(), tc.s)
		assert.Equal(t, tc.failed, tc.s.IsFailed(), tc.s)
		// Decodes from a run and round-trips.
		var r PipelineRun
		require.NoError(t, json.Unmarshal([]byte(`{"id": 1, "status": "`+string(tc.s)+`"}`), &r))
		assert.Equal(t, tc.s, r.Status)
		out, _ := json.Marshal(r.Status)
		assert.Equal(t, `"`+string(tc.s)+`"`, string(out))
	}
	unknown := RunStatus("PAUSED")
	assert.False(t, unknown.IsKnown())
	assert.False(t, unknown.InProgress() || unknown.IsTerminal() || unknown.Succeeded() || unknown.HasErrors() || unknown.IsFailed())
	out, _ := json.Marshal(unknown)
	assert.Equal(t, `"PAUSED"`, string(out))
	assert.True(t, RunStatus(" completed ").Succeeded())
}

func TestGetPipelineRuns(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/pipeline_runs/", srvJSON(200, `{"data": [{"id": 1, "status": "COMPLETED"}, {"id": 3, "status": "RUNNING"}]}`))
	got, err := c.GetPipelineRuns(context.Background(), []ID{1, 2, 3, 1})
	require.NoError(t, err)
	require.Len(t, got, 2, "an unknown id is simply absent")
	assert.Equal(t, RunRunning, got[1].Status)
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/pipeline_runs/", Query: srvQ("run_id", "1,2,3"), Auth: "JWT tenant-tok"}}, m.reqs())
}

func TestGetPipelineRunsChunksLongLists(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/pipeline_runs/", func(r *http.Request) (*http.Response, error) {
		var items []string
		for _, id := range strings.Split(r.URL.Query().Get("run_id"), ",") {
			items = append(items, fmt.Sprintf(`{"id": %s}`, id))
		}
		return srvJSON(200, `{"data": [`+strings.Join(items, ",")+`]}`)(r)
	})
	ids := make([]ID, 120)
	for i := range ids {
		ids[i] = ID(i + 1)
	}
	got, err := c.GetPipelineRuns(context.Background(), ids)
	require.NoError(t, err)
	require.Len(t, got, 120)
	assert.Equal(t, ID(120), got[119].ID)
	rs := m.reqs()
	require.Len(t, rs, 3)
	assert.Len(t, strings.Split(rs[0].Query.Get("run_id"), ","), 50)
	assert.Len(t, strings.Split(rs[2].Query.Get("run_id"), ","), 20)
}

func TestGetPipelineRunsInvalidInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	for _, ids := range [][]ID{nil, {}, {1, 0}, {-2}} {
		_, err := c.GetPipelineRuns(context.Background(), ids)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%v", ids)
	}
	assert.Zero(t, m.count())
}

func TestPipelineRunLogs(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/pipeline_runs/900/logs/", srvJSON(200, `{"logs": "line 1\nline 2"}`))
	got, err := c.PipelineRunLogs(context.Background(), 900)
	require.NoError(t, err)
	assert.JSONEq(t, `{"logs": "line 1\nline 2"}`, string(got))
	assert.Equal(t, []srvReq{{Method: "GET", Path: "/api/pipeline_runs/900/logs/", Query: url.Values{}, Auth: "JWT tenant-tok"}}, m.reqs())
}

func TestListServerRunsNotFound(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/404/runs/", srvJSON(404, `{"error": "NOT_FOUND", "detail": "no such server"}`))
	_, err := c.ListServerRuns(context.Background(), 404, nil)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 1, m.count(), "a 404 is not retried")
}

func FuzzPipelineRunDecoder(f *testing.F) {
	for _, seed := range []string{
		`{"id": 1, "status": "COMPLETED", "tables": [{"name": "a", "records": 3}], "timestamp_start": "2026-11-23T08:00:00Z"}`,
		`{"id": "2", "tables": {"a": 1, "b": {"rows": "2"}}, "timestamp_end": 1795420800.5}`,
		`{"id": 3, "tables": "x", "error": {"e": 1}}`,
		`{"data": [{"id": 1}], "next": 2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r PipelineRun
		if json.Unmarshal(b, &r) == nil {
			var sum int64
			for _, tb := range r.Tables {
				if tb.HasRecords {
					sum += tb.Records
				}
			}
			if sum != r.Records {
				t.Fatalf("Records %d, tables sum to %d", r.Records, sum)
			}
		}
		_ = r.Status.IsKnown()
	})
}
