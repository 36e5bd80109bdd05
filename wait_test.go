package peliqan

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// srvSeq answers with bodies in turn (the last repeats) and notes when each
// request came, on the test's clock.
type srvSeq struct {
	mu     sync.Mutex
	bodies []string
	at     []time.Time
}

func (s *srvSeq) responder(status int) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		s.mu.Lock()
		i := len(s.at)
		s.at = append(s.at, time.Now())
		body := s.bodies[min(i, len(s.bodies)-1)]
		s.mu.Unlock()
		return srvJSON(status, body)(r)
	}
}

func TestWaitForSyncFollowsPeliqanSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		status := &srvSeq{}
		for range 11 {
			status.bodies = append(status.bodies, `{"running": true, "run_id": 900}`)
		}
		status.bodies = append(status.bodies, `{"running": false, "run_id": 900}`)
		m.on("GET", "/api/servers/12/syncdb/status/", status.responder(200))
		runs := &srvSeq{bodies: []string{`{"data": [{"id": 900, "status": "COMPLETED", "tables": [{"name": "deals", "records": 42}]}]}`}}
		m.on("GET", "/api/pipeline_runs/", runs.responder(200))

		var progress []SyncProgress
		start := time.Now()
		res := &SyncResult{ServerID: 12, RunData: []RunRef{{PipelineRunID: 900, TaskID: "t-1"}}, TaskID: "t-1"}
		got, err := c.WaitForSync(context.Background(), res, &WaitOptions{Progress: func(p SyncProgress) { progress = append(progress, p) }})
		require.NoError(t, err)

		// 5 s between polls, 10 s after the 5th, 20 s after the 10th.
		var offsets []time.Duration
		for _, at := range status.at {
			offsets = append(offsets, at.Sub(start))
		}
		s := func(n int) time.Duration { return time.Duration(n) * time.Second }
		assert.Equal(t, []time.Duration{0, s(5), s(10), s(15), s(20), s(30), s(40), s(50), s(60), s(70), s(90), s(110)}, offsets)
		require.Len(t, runs.at, 1)
		assert.Equal(t, s(110), runs.at[0].Sub(start), "the final run is read at once")

		require.Len(t, progress, 12)
		for i, p := range progress {
			assert.Equal(t, i+1, p.Poll)
			assert.Equal(t, i < 11, p.Running)
			assert.Equal(t, ID(900), p.RunID)
			assert.Equal(t, "t-1", p.TaskID)
			assert.Equal(t, ID(12), p.ServerID)
		}
		assert.Equal(t, s(110), progress[11].Elapsed)

		assert.Equal(t, RunCompleted, got.Status)
		require.NotNil(t, got.Run)
		assert.Equal(t, ID(900), got.Run.ID)
		assert.Equal(t, int64(42), got.Run.Records)
		assert.Equal(t, []ID{900}, got.RunIDs)
		assert.Equal(t, 12, got.Polls)
		assert.Equal(t, s(110), got.Elapsed)

		for _, r := range m.reqs() {
			switch r.Path {
			case "/api/servers/12/syncdb/status/":
				assert.Equal(t, srvQ("task_id", "t-1", "pipeline_run_id", "900"), r.Query)
			case "/api/pipeline_runs/":
				assert.Equal(t, srvQ("run_id", "900"), r.Query)
			default:
				t.Errorf("WaitForSync sent %s %s", r.Method, r.Path)
			}
		}
	})
}

func TestWaitForSyncCancelMidWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{"running": true}`))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(12*time.Second, cancel) // during the wait after the 3rd poll
		start := time.Now()
		got, err := c.WaitForSync(ctx, &SyncResult{ServerID: 12, TaskID: "t-1"}, nil)
		assert.Nil(t, got)
		assert.Same(t, context.Canceled, err, "ctx's error, unwrapped")
		assert.Equal(t, 12*time.Second, time.Since(start), "returns when ctx ends, not at the next poll")
		assert.Equal(t, 3, m.count(), "three status polls, nothing else")
		for _, r := range m.reqs() {
			assert.Equal(t, "/api/servers/12/syncdb/status/", r.Path)
		}
	})
}

func TestWaitForSyncDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{"running": true}`))
		ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
		defer cancel()
		_, err := c.WaitForSync(ctx, &SyncResult{ServerID: 12, TaskID: "t-1"}, nil)
		assert.Equal(t, context.DeadlineExceeded, err)
		assert.Equal(t, 8, m.count(), "polls at 0, 5, 10, 15, 20, 30, 40, 50 s")
	})
}

func TestWaitForSyncMissingRunningIsRunning(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{}`), srvJSON(200, `{"task_id": "t"}`), srvJSON(200, `{"running": false}`))
	got, err := c.WaitForSync(context.Background(), &SyncResult{ServerID: 12, TaskID: "t"}, &WaitOptions{Schedule: FixedSchedule(0)})
	require.NoError(t, err)
	assert.Equal(t, 3, got.Polls)
	assert.Equal(t, 3, m.count(), "no run id known: no run is read")
	assert.Nil(t, got.Run)
	assert.Equal(t, RunStatus(""), got.Status)
}

func TestWaitForSyncServerTimeoutAnswer(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/",
		srvJSON(400, `{"error": "ERROR_PIPELINE_RUN_TIMEOUT", "detail": "still running"}`),
		srvJSON(200, `{"running": false, "run_id": 5}`))
	m.on("GET", "/api/pipeline_runs/", srvJSON(200, `{"data": [{"id": 5, "status": "COMPLETED"}]}`))
	var running []bool
	got, err := c.WaitForSync(context.Background(), &SyncResult{ServerID: 12, TaskID: "t"},
		&WaitOptions{Schedule: FixedSchedule(0), ServerTimeout: 30 * time.Second, Progress: func(p SyncProgress) { running = append(running, p.Running) }})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, running, "the server-side timeout counts as still running")
	assert.Equal(t, RunCompleted, got.Status)
	assert.Equal(t, []ID{5}, got.RunIDs, "a run id learned from the status is read")
	rs := m.reqs()
	require.Len(t, rs, 3)
	assert.Equal(t, srvQ("task_id", "t", "timeout", "30"), rs[0].Query)
}

func TestWaitForSyncSeveralRuns(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{"running": false}`))
	m.on("GET", "/api/pipeline_runs/", srvJSON(200, `{"data": [{"id": 12, "status": "ERROR", "error": "bad key"}, {"id": 11, "status": "COMPLETED"}]}`))
	res := &SyncResult{ServerID: 12, TaskID: "top", RunData: []RunRef{{PipelineRunID: 11, TaskID: "a"}, {PipelineRunID: 12}}}
	got, err := c.WaitForSync(context.Background(), res, &WaitOptions{Schedule: FixedSchedule(0)})
	require.NoError(t, err)
	assert.Equal(t, RunError, got.Status, "the worst status")
	require.Len(t, got.Runs, 2)
	assert.Equal(t, ID(11), got.Runs[0].ID, "runs in the order their ids were learned")
	assert.Equal(t, ID(11), got.Run.ID)
	assert.Equal(t, "bad key", got.Runs[1].Message)
	rs := m.reqs()
	require.Len(t, rs, 3)
	assert.Equal(t, srvQ("task_id", "a", "pipeline_run_id", "11"), rs[0].Query)
	assert.Equal(t, srvQ("task_id", "top", "pipeline_run_id", "12"), rs[1].Query, "a run without its own task id uses the sync's")
	assert.Equal(t, srvQ("run_id", "11,12"), rs[2].Query)
	assert.Empty(t, res.RunData[1].TaskID, "the caller's SyncResult is not modified")
}

func TestWaitForSyncResync(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/8/resync/", srvJSON(200, `{"run_data": {"pipeline_run_id": 70, "task_id": "r-1"}}`))
	m.on("GET", "/api/servers/8/resync/status/", srvJSON(200, `{"running": false, "run_id": [70]}`))
	m.on("GET", "/api/pipeline_runs/", srvJSON(200, `{"data": [{"id": 70, "status": "COMPLETED_WITH_ERRORS"}]}`))
	res, err := c.FullResync(context.Background(), 8)
	require.NoError(t, err)
	got, err := c.WaitForSync(context.Background(), res, &WaitOptions{Schedule: FixedSchedule(0)})
	require.NoError(t, err)
	assert.Equal(t, RunCompletedWithErrors, got.Status)
	rs := m.reqs()
	require.Len(t, rs, 3)
	assert.Equal(t, "/api/servers/8/resync/status/", rs[1].Path)
	assert.Equal(t, srvQ("task_id", "r-1"), rs[1].Query)
}

func TestWaitForSyncRereadsARunStillMarkedRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, m := srvClient(t)
		m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{"running": false}`))
		runs := &srvSeq{bodies: []string{`{"data": [{"id": 9, "status": "RUNNING"}]}`, `{"data": [{"id": 9, "status": "COMPLETED"}]}`}}
		m.on("GET", "/api/pipeline_runs/", runs.responder(200))
		start := time.Now()
		got, err := c.WaitForSync(context.Background(), &SyncResult{ServerID: 12, RunData: []RunRef{{PipelineRunID: 9}}}, nil)
		require.NoError(t, err)
		assert.Equal(t, RunCompleted, got.Status)
		require.Len(t, runs.at, 2)
		assert.Equal(t, 5*time.Second, runs.at[1].Sub(start), "the re-read waits on the schedule")
	})
}

func TestWaitForSyncGivesUpRereadingAfterThree(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{"running": false}`))
	m.on("GET", "/api/pipeline_runs/", srvJSON(200, `{"data": [{"id": 9, "status": "RUNNING"}]}`))
	got, err := c.WaitForSync(context.Background(), &SyncResult{ServerID: 12, RunData: []RunRef{{PipelineRunID: 9}}}, &WaitOptions{Schedule: FixedSchedule(0)})
	require.NoError(t, err)
	assert.Equal(t, RunRunning, got.Status)
	assert.Equal(t, 1+finalRunReads, m.count())
}

func TestWaitForSyncStatusErrorEndsWait(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(200, `{"running": true}`), srvJSON(404, `{"error": "NOT_FOUND"}`))
	_, err := c.WaitForSync(context.Background(), &SyncResult{ServerID: 12, TaskID: "t"}, &WaitOptions{Schedule: FixedSchedule(0)})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 2, m.count())
}

func TestWaitForSyncStatusRetriedOn503(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	m.on("GET", "/api/servers/12/syncdb/status/", srvJSON(503, `{}`), srvJSON(200, `{"running": false}`))
	got, err := c.WaitForSync(context.Background(), &SyncResult{ServerID: 12, TaskID: "t"}, &WaitOptions{Schedule: FixedSchedule(0)})
	require.NoError(t, err)
	assert.Equal(t, 1, got.Polls, "one poll, retried inside the client")
	assert.Equal(t, 2, m.count())
}

func TestWaitForSyncInvalidInput(t *testing.T) {
	t.Parallel()
	c, m := srvClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		res  *SyncResult
		opts *WaitOptions
	}{
		{nil, nil},
		{&SyncResult{TaskID: "t"}, nil},
		{&SyncResult{ServerID: 1}, nil},
		{&SyncResult{ServerID: 1, RunData: []RunRef{{}}}, nil},
		{&SyncResult{ServerID: 1, TaskID: "t"}, &WaitOptions{ServerTimeout: -1}},
	} {
		_, err := c.WaitForSync(ctx, tc.res, tc.opts)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%+v", tc.res)
	}
	_, err := c.WaitForSync(ctx, &SyncResult{ServerID: 1, TaskID: "t"}, nil, WithHeader("Authorization", "x"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, m.count())
}

func TestWorstRunStatus(t *testing.T) {
	t.Parallel()
	runs := func(ss ...RunStatus) []PipelineRun {
		out := make([]PipelineRun, len(ss))
		for i, s := range ss {
			out[i].Status = s
		}
		return out
	}
	assert.Equal(t, RunCompleted, worstRunStatus(runs(RunCompleted, RunCompleted)))
	assert.Equal(t, RunRunning, worstRunStatus(runs(RunCompleted, RunRunning)))
	assert.Equal(t, RunStatus("NEW"), worstRunStatus(runs(RunRunning, "NEW", RunCompleted)))
	assert.Equal(t, RunCompletedWithErrors, worstRunStatus(runs("NEW", RunCompletedWithErrors)))
	assert.Equal(t, RunInternalError, worstRunStatus(runs(RunCompletedWithErrors, RunInternalError, RunError)))
}
