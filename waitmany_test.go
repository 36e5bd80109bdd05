package peliqan

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runsBody answers GET /api/pipeline_runs/ with the asked-for runs, each
// with the status status(id) gives (an empty status leaves the run out).
func runsBody(status func(id string) string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		var items []string
		for _, id := range strings.Split(r.URL.Query().Get("run_id"), ",") {
			if st := status(id); st != "" {
				items = append(items, fmt.Sprintf(`{"id": %s, "status": %q}`, id, st))
			}
		}
		return srvJSON(200, `{"data": [`+strings.Join(items, ",")+`]}`)(r)
	}
}

func fiveResults() []*SyncResult {
	var out []*SyncResult
	for i := range 5 {
		out = append(out, &SyncResult{ServerID: ID(11 + i), TaskID: fmt.Sprintf("t-%d", i),
			RunData: []RunRef{{PipelineRunID: ID(901 + i), TaskID: fmt.Sprintf("t-%d", i)}}})
	}
	return out
}

func TestWaitForSyncsOneRequestPerTick(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		var tick atomic.Int32
		m.on("GET", "/api/pipeline_runs/", func(r *http.Request) (*http.Response, error) {
			n := tick.Add(1)
			return runsBody(func(id string) string {
				switch {
				case n >= 3 && (id == "901" || id == "902"):
					return "COMPLETED"
				case n >= 4 && id == "903":
					return "COMPLETED_WITH_ERRORS"
				case n >= 4 && id == "904":
					return "ERROR"
				case n >= 4:
					return "COMPLETED"
				}
				return "RUNNING"
			})(r)
		})

		start := time.Now()
		var progress []WaitManyProgress
		var order []ID
		var requestsAtEnd []int
		for end, err := range c.WaitForSyncs(context.Background(), fiveResults(),
			&WaitManyOptions{Schedule: FixedSchedule(2 * time.Second), Progress: func(p WaitManyProgress) { progress = append(progress, p) }}) {
			require.NoError(t, err)
			require.NoError(t, end.Err)
			require.NotNil(t, end.Run)
			assert.Equal(t, ID(901)+ID(end.Index), end.Run.Run.ID)
			order = append(order, end.Result.ServerID)
			requestsAtEnd = append(requestsAtEnd, m.count())
			switch end.Result.ServerID {
			case 11, 12, 15:
				assert.Equal(t, RunCompleted, end.Run.Status)
			case 13:
				assert.Equal(t, RunCompletedWithErrors, end.Run.Status)
			case 14:
				assert.Equal(t, RunError, end.Run.Status)
			}
		}
		assert.Equal(t, []ID{11, 12, 13, 14, 15}, order)
		assert.Equal(t, []int{3, 3, 4, 4, 4}, requestsAtEnd, "each end is yielded as its tick finds it, before the next tick")
		assert.Equal(t, 6*time.Second, time.Since(start), "ticks at 0, 2, 4 and 6 s")

		reqs := m.reqs()
		require.Len(t, reqs, 4, "one request per tick for five syncs")
		assert.Equal(t, "901,902,903,904,905", reqs[0].Query.Get("run_id"))
		assert.Equal(t, "903,904,905", reqs[3].Query.Get("run_id"), "ended runs are not asked for again")
		require.Len(t, progress, 4)
		assert.Equal(t, WaitManyProgress{Tick: 3, Requests: 1, Pending: 3, Ended: 2, Elapsed: 4 * time.Second}, progress[2])
	})
}

func TestWaitForSyncsFollowsATaskIDThenReReadsALaggingRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/servers/20/syncdb/status/",
			srvJSON(200, `{"running": true}`), srvJSON(200, `{"running": true}`), srvJSON(200, `{"running": false, "run_id": 950}`))
		var reads atomic.Int32
		m.on("GET", "/api/pipeline_runs/", func(r *http.Request) (*http.Response, error) {
			n := reads.Add(1)
			return runsBody(func(id string) string {
				switch {
				case id == "950" && n >= 5:
					return "COMPLETED"
				case id == "950":
					return "RUNNING" // the status route said done; the record lags
				}
				return "RUNNING"
			})(r)
		})
		results := []*SyncResult{
			{ServerID: 20, TaskID: "t-a"}, // no run id: followed by task id
			{ServerID: 21, RunData: []RunRef{{PipelineRunID: 960}}},
		}
		var ends []*SyncEnd
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for end, err := range c.WaitForSyncs(ctx, results, &WaitManyOptions{Schedule: FixedSchedule(time.Second)}) {
			if err != nil {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				break
			}
			ends = append(ends, end)
		}
		require.Len(t, ends, 1, "run 960 never ends; the wait runs until ctx does")
		e := ends[0]
		assert.Equal(t, 0, e.Index)
		require.NoError(t, e.Err)
		assert.Equal(t, RunCompleted, e.Run.Status)
		assert.Equal(t, []ID{950}, e.Run.RunIDs)
		assert.Equal(t, 3+3, e.Run.Polls, "three status polls, then three reads of the run")

		var status, runReads int
		for _, r := range m.reqs() {
			switch r.Path {
			case "/api/servers/20/syncdb/status/":
				status++
				assert.Equal(t, srvQ("task_id", "t-a"), r.Query)
			case "/api/pipeline_runs/":
				runReads++
			}
		}
		assert.Equal(t, 3, status)
		assert.Greater(t, runReads, 5, "run 960 is read on every tick, one request with 950 while it lagged")
	})
}

func TestWaitForSyncsBoundsTheLaggingReads(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/servers/20/syncdb/status/", srvJSON(200, `{"running": false, "run_id": 950}`))
		m.on("GET", "/api/pipeline_runs/", runsBody(func(string) string { return "RUNNING" }))
		var got []*SyncEnd
		for end, err := range c.WaitForSyncs(context.Background(), []*SyncResult{{ServerID: 20, TaskID: "t-a"}}, &WaitManyOptions{Schedule: FixedSchedule(time.Second)}) {
			require.NoError(t, err)
			got = append(got, end)
		}
		require.Len(t, got, 1)
		assert.Equal(t, RunRunning, got[0].Run.Status, "after three reads the status read is reported as it is")
		assert.Equal(t, 4, m.count(), "one status poll, three reads")
	})
}

func TestWaitForSyncsAsksTheStatusRouteWhenTheRecordCannotDecide(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		// 901: a status the SDK does not know; 902: not returned at all.
		m.on("GET", "/api/pipeline_runs/", runsBody(func(id string) string {
			if id == "901" {
				return "QUEUED"
			}
			return ""
		}))
		m.on("GET", "/api/servers/11/syncdb/status/", srvJSON(200, `{"running": true}`), srvJSON(200, `{"running": false, "run_id": 901}`))
		m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(404, `{"detail": "Not found."}`))
		results := []*SyncResult{
			{ServerID: 11, RunData: []RunRef{{PipelineRunID: 901, TaskID: "t-1"}}},
			{ServerID: 12, RunData: []RunRef{{PipelineRunID: 902}}},
		}
		ends := map[ID]*SyncEnd{}
		for end, err := range c.WaitForSyncs(context.Background(), results, &WaitManyOptions{Schedule: FixedSchedule(time.Second)}) {
			require.NoError(t, err)
			ends[end.Result.ServerID] = end
		}
		require.Len(t, ends, 2)
		assert.ErrorIs(t, ends[12].Err, ErrNotFound, "a run neither route knows ends that sync alone")
		assert.Nil(t, ends[12].Run)
		require.NoError(t, ends[11].Err)
		assert.Equal(t, RunStatus("QUEUED"), ends[11].Run.Status, "ended when the status route said so, after the bounded re-reads")
		for _, r := range m.reqs() {
			if r.Path == "/api/servers/11/syncdb/status/" {
				assert.Equal(t, srvQ("task_id", "t-1", "pipeline_run_id", "901"), r.Query)
			}
		}
	})
}

func TestWaitForSyncsStopsOnAFailedRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/pipeline_runs/", srvJSON(500, `{"detail": "boom"}`))
		var errs []error
		for end, err := range c.WaitForSyncs(context.Background(), fiveResults(), nil) {
			assert.Nil(t, end)
			errs = append(errs, err)
		}
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], ErrServer)
		assert.Equal(t, 3, m.count(), "the read is retried by the client's policy, then the wait ends")
	})
}

func TestWaitForSyncsEndsWithTheContextAndOnBreak(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/pipeline_runs/", runsBody(func(id string) string {
			if id == "901" {
				return "COMPLETED"
			}
			return "RUNNING"
		}))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(12*time.Second, cancel)
		start := time.Now()
		var last error
		n := 0
		for _, err := range c.WaitForSyncs(ctx, fiveResults(), nil) {
			if err != nil {
				last = err
				continue
			}
			n++
		}
		assert.Equal(t, 1, n)
		assert.Same(t, context.Canceled, last, "ctx's error, as it is")
		assert.Equal(t, 12*time.Second, time.Since(start))
		assert.Equal(t, 3, m.count(), "ticks at 0, 5 and 10 s")

		before := m.count()
		for range c.WaitForSyncs(context.Background(), fiveResults(), nil) {
			break
		}
		assert.Equal(t, before+1, m.count(), "breaking out stops the wait")
	})
}

func TestWaitForSyncsRefusesBadInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	first := func(seq func(func(*SyncEnd, error) bool)) error {
		var got error
		seq(func(_ *SyncEnd, err error) bool { got = err; return false })
		return got
	}
	for name, tc := range map[string]struct {
		ctx     context.Context
		results []*SyncResult
		opts    []RequestOption
	}{
		"nil ctx":        {nil, fiveResults(), nil},
		"nil result":     {context.Background(), []*SyncResult{nil}, nil},
		"no server":      {context.Background(), []*SyncResult{{TaskID: "t"}}, nil},
		"nothing to ask": {context.Background(), []*SyncResult{{ServerID: 3}}, nil},
		"bad option":     {context.Background(), fiveResults(), []RequestOption{WithHeader("Bad Name", "x")}},
	} {
		err := first(c.WaitForSyncs(tc.ctx, tc.results, nil, tc.opts...))
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	n := 0
	for range c.WaitForSyncs(context.Background(), nil, nil) {
		n++
	}
	assert.Zero(t, n, "nothing to wait for yields nothing")
	assert.Zero(t, m.count())
}
