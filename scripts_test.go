package peliqan

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListScriptsAndGroups(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "GET", "/api/interfaces/", "", "", 200,
		`{"results": [{"id": 3, "name": "sync_crm", "type": "streamlit", "group": 7, "run_mode": "SHELL"},
		              {"id": "4", "name": "app", "group": {"id": 8, "name": "Apps"}, "run_mode": "NEW_MODE"}]}`)
	dtExpect(t, mt, "GET", "/api/groups/", "", "", 200, `[{"id": 7, "name": "Default"}, {"id": 8, "name": "Apps"}]`)

	scripts, err := s.ListScripts(context.Background())
	require.NoError(t, err)
	require.Len(t, scripts, 2)
	assert.Equal(t, Script{ID: 3, Name: "sync_crm", Type: "streamlit", GroupID: 7, RunMode: RunModeShell}, scripts[0])
	assert.Equal(t, ID(8), scripts[1].GroupID)
	assert.Equal(t, RunMode("NEW_MODE"), scripts[1].RunMode)
	assert.False(t, scripts[1].RunMode.IsKnown())

	groups, err := s.ListGroups(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []Group{{7, "Default"}, {8, "Apps"}}, groups)
}

func TestGetScriptReadsSchedule(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "GET", "/api/interfaces/3/", "", "", 200,
		`{"id": 3, "name": "sync_crm", "raw_script": "print(1)", "group": 7,
		  "settings": {"schedule": true, "run_interval": 86400, "weekdays": [0, 4, 6], "start_time": "06:30:00", "other": 1}}`)
	sc, err := s.GetScript(context.Background(), 3)
	require.NoError(t, err)
	assert.Equal(t, "print(1)", sc.Code)
	require.NotNil(t, sc.Schedule)
	assert.Equal(t, Schedule{Interval: 24 * time.Hour,
		Weekdays:  []time.Weekday{time.Monday, time.Friday, time.Sunday},
		StartTime: &TimeOfDay{6, 30, 0}}, *sc.Schedule)
	assert.JSONEq(t, `{"schedule": true, "run_interval": 86400, "weekdays": [0, 4, 6], "start_time": "06:30:00", "other": 1}`, string(sc.Settings))
}

func TestCreateScript(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	n := dtExpect(t, mt, "POST", "/api/interfaces/group/7/", "",
		`{"name": "sync_crm", "type": "streamlit", "run_mode": "SHELL", "raw_script": "if a < b and c > d: pass",
		  "settings": {"schedule": true, "run_interval": 3600, "weekdays": [0, 1, 2, 3, 4], "start_time": "06:00:00"}}`,
		200, `{"id": 11, "name": "sync_crm", "group": 7}`)
	sc, err := s.CreateScript(context.Background(), ScriptCreate{Name: "sync_crm", Code: "if a < b and c > d: pass", GroupID: 7,
		Schedule: &Schedule{Interval: time.Hour, StartTime: At(6, 0),
			Weekdays: []time.Weekday{time.Friday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Monday}}})
	require.NoError(t, err)
	assert.Equal(t, ID(11), sc.ID)
	assert.EqualValues(t, 1, n.Load())

	dtExpect(t, mt, "POST", "/api/interfaces/group/8/", "",
		`{"name": "app", "type": "streamlit", "run_mode": "STREAMLIT", "raw_script": ""}`, 200, `{"id": 12}`)
	_, err = s.CreateScript(context.Background(), ScriptCreate{Name: "app", GroupID: 8, RunMode: RunModeStreamlit})
	require.NoError(t, err)
}

func TestUpdateScript(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	// A schedule change reads the script first and keeps its other settings.
	get := dtExpect(t, mt, "GET", "/api/interfaces/11/", "", "", 200,
		`{"id": 11, "settings": {"schedule": true, "run_interval": 60, "weekdays": [1], "notify": {"email": "ops@x.io"}}}`)
	dtExpect(t, mt, "PATCH", "/api/interfaces/11/", "",
		`{"raw_script": "print(2)", "settings": {"schedule": false, "run_interval": 60, "weekdays": [1], "notify": {"email": "ops@x.io"}}}`,
		200, `{"id": 11, "raw_script": "print(2)"}`)
	code := "print(2)"
	sc, err := s.UpdateScript(context.Background(), 11, ScriptUpdate{Code: &code, Schedule: &Schedule{Disabled: true}})
	require.NoError(t, err)
	assert.Equal(t, "print(2)", sc.Code)
	assert.EqualValues(t, 1, get.Load())

	dtExpect(t, mt, "GET", "/api/interfaces/13/", "", "", 200,
		`{"id": 13, "settings": {"schedule": false, "weekdays": [1], "start_time": "01:00:00", "x": 1}}`)
	dtExpect(t, mt, "PATCH", "/api/interfaces/13/", "",
		`{"settings": {"schedule": true, "run_interval": 7200, "x": 1}}`, 200, `{"id": 13}`)
	_, err = s.UpdateScript(context.Background(), 13, ScriptUpdate{Schedule: &Schedule{Interval: 2 * time.Hour}})
	require.NoError(t, err)

	dtExpect(t, mt, "PATCH", "/api/interfaces/12/", "", `{"name": "renamed"}`, 200, `{"id": 12}`)
	name := "renamed"
	_, err = s.UpdateScript(context.Background(), 12, ScriptUpdate{Name: &name})
	require.NoError(t, err)
}

func TestRunScriptTwoCalls(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	var order []string
	trig := dtExpect(t, mt, "GET", "/api/interfaces/trigger_run/11/", "shell=1", "", 200, `{}`)
	mt.RegisterResponder("POST", dtBase+"/api/interface_runs/", func(r *http.Request) (*http.Response, error) {
		order = append(order, "post")
		assert.EqualValues(t, 1, trig.Load(), "the trigger comes first")
		return httpmock.NewStringResponse(201, `{"id": 501, "running": true, "interface": 11}`), nil
	})
	run, err := s.RunScript(context.Background(), 11)
	require.NoError(t, err)
	assert.Equal(t, ID(501), run.ID)
	assert.Equal(t, ID(11), run.ScriptID)
	assert.True(t, run.IsRunning())
	assert.Equal(t, []string{"post"}, order)
	assert.False(t, (&ScriptRun{Status: RunCompleted}).IsRunning(), "no running flag, final status")
	assert.True(t, (&ScriptRun{Status: "QUEUED"}).IsRunning(), "no running flag, unknown status")

	// The body of the second call.
	s2, mt2 := dtClient(t)
	dtExpect(t, mt2, "GET", "/api/interfaces/trigger_run/11/", "shell=1", "", 200, ``)
	dtExpect(t, mt2, "POST", "/api/interface_runs/", "", `{"interface_id": 11, "run_mode": "SHELL", "source": "SCRIPT"}`, 201, `{"id": 502}`)
	run, err = s2.RunScript(context.Background(), 11)
	require.NoError(t, err)
	assert.Equal(t, ID(11), run.ScriptID, "filled from the argument when the run does not name it")
}

func TestRunScriptTriggerIsNotRetried(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	trig := dtExpect(t, mt, "GET", "/api/interfaces/trigger_run/11/", "shell=1", "", 503, `{"error": "busy"}`)
	post := dtExpect(t, mt, "POST", "/api/interface_runs/", "", `{}`, 201, `{}`)
	_, err := s.RunScript(context.Background(), 11)
	assert.ErrorIs(t, err, ErrServer)
	assert.EqualValues(t, 1, trig.Load(), "a side-effect GET is sent once")
	assert.Zero(t, post.Load(), "no run is created when the trigger fails")
}

func TestScriptRunsAndLogs(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	dtExpect(t, mt, "GET", "/api/interface_runs/501/", "", "", 200,
		`{"id": 501, "running": false, "status": "COMPLETED", "interface": {"id": 11}}`)
	dtExpect(t, mt, "GET", "/api/interface_runs/501/logs/", "", "", 200, `{"logs": ["started", "done"]}`)
	dtExpect(t, mt, "GET", "/api/interface_runs/", "interface_id=11&page=2&per_page=5", "", 200,
		`{"data": [{"id": 499, "running": false}], "next": 3}`)

	run, err := s.GetScriptRun(context.Background(), 501)
	require.NoError(t, err)
	assert.False(t, run.IsRunning())
	assert.Equal(t, RunCompleted, run.Status)
	assert.Equal(t, ID(11), run.ScriptID)

	logs, err := s.ScriptRunLogs(context.Background(), 501)
	require.NoError(t, err)
	assert.JSONEq(t, `{"logs": ["started", "done"]}`, string(logs))

	p, err := s.ListScriptRuns(context.Background(), 11, &ListOptions{Page: 2, PerPage: 5})
	require.NoError(t, err)
	require.Len(t, p.Items, 1)
	assert.Equal(t, ID(499), p.Items[0].ID)
	assert.True(t, p.HasNext)
	assert.Equal(t, 3, p.NextPage)

	dtExpect(t, mt, "GET", "/api/interface_runs/", "interface_id=12&per_page=1", "", 200,
		`{"data": [{"id": 600, "running": false}], "next": 2}`)
	mt.RegisterResponderWithQuery("GET", dtBase+"/api/interface_runs/", "interface_id=12&per_page=1&page=2",
		httpmock.NewStringResponder(200, `{"data": [{"id": 599, "running": false}], "next": null}`))
	var ids []ID
	for run, err := range s.ScriptRuns(context.Background(), 12, &ListOptions{PerPage: 1}) {
		require.NoError(t, err)
		ids = append(ids, run.ID)
	}
	assert.Equal(t, []ID{600, 599}, ids)
	for _, err := range s.ScriptRuns(context.Background(), 0, nil) {
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
}

func TestWaitForScriptRun(t *testing.T) {
	t.Parallel()
	s, mt := dtClient(t)
	var n atomic.Int32
	mt.RegisterResponder("GET", dtBase+"/api/interface_runs/501/", func(r *http.Request) (*http.Response, error) {
		switch n.Add(1) {
		case 1:
			return httpmock.NewStringResponse(200, `{"id": 501}`), nil // no "running": still running
		case 2:
			return httpmock.NewStringResponse(200, `{"id": 501, "running": true}`), nil
		}
		return httpmock.NewStringResponse(200, `{"id": 501, "running": false, "status": "ERROR"}`), nil
	})
	var seen []bool
	run, err := s.WaitForScriptRun(context.Background(), 501, &ScriptWaitOptions{Schedule: FixedSchedule(0),
		Progress: func(r *ScriptRun) { seen = append(seen, r.IsRunning()) }})
	require.NoError(t, err)
	assert.Equal(t, RunError, run.Status)
	assert.True(t, run.Status.IsFailed())
	assert.EqualValues(t, 3, n.Load())
	assert.Equal(t, []bool{true, true, false}, seen)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.WaitForScriptRun(ctx, 501, nil)
	assert.Equal(t, context.Canceled, err)
}

func TestScriptsInvalidArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, mt := dtClient(t)
	name, blank := "x", " "
	checks := map[string]error{}
	_, checks["GetScript 0"] = s.GetScript(ctx, 0)
	_, checks["CreateScript no group"] = s.CreateScript(ctx, ScriptCreate{Name: "a"})
	_, checks["CreateScript no name"] = s.CreateScript(ctx, ScriptCreate{GroupID: 1})
	_, checks["CreateScript interval 30s"] = s.CreateScript(ctx, ScriptCreate{Name: "a", GroupID: 1, Schedule: &Schedule{Interval: 30 * time.Second}})
	_, checks["CreateScript interval 0"] = s.CreateScript(ctx, ScriptCreate{Name: "a", GroupID: 1, Schedule: &Schedule{}})
	_, checks["CreateScript interval fraction"] = s.CreateScript(ctx, ScriptCreate{Name: "a", GroupID: 1, Schedule: &Schedule{Interval: 90*time.Second + time.Millisecond}})
	_, checks["CreateScript weekday"] = s.CreateScript(ctx, ScriptCreate{Name: "a", GroupID: 1, Schedule: &Schedule{Interval: time.Hour, Weekdays: []time.Weekday{7}}})
	_, checks["CreateScript start"] = s.CreateScript(ctx, ScriptCreate{Name: "a", GroupID: 1, Schedule: &Schedule{Interval: time.Hour, StartTime: At(24, 0)}})
	_, checks["UpdateScript nothing"] = s.UpdateScript(ctx, 1, ScriptUpdate{})
	_, checks["UpdateScript 0"] = s.UpdateScript(ctx, 0, ScriptUpdate{Name: &name})
	_, checks["UpdateScript blank name"] = s.UpdateScript(ctx, 1, ScriptUpdate{Name: &blank})
	_, checks["UpdateScript schedule"] = s.UpdateScript(ctx, 1, ScriptUpdate{Schedule: &Schedule{Interval: -time.Hour}})
	_, checks["RunScript 0"] = s.RunScript(ctx, 0)
	_, checks["GetScriptRun 0"] = s.GetScriptRun(ctx, 0)
	_, checks["ScriptRunLogs 0"] = s.ScriptRunLogs(ctx, 0)
	_, checks["ListScriptRuns 0"] = s.ListScriptRuns(ctx, 0, nil)
	_, checks["ListScriptRuns per page"] = s.ListScriptRuns(ctx, 1, &ListOptions{PerPage: -1})
	_, checks["WaitForScriptRun 0"] = s.WaitForScriptRun(ctx, 0, nil)
	for name, err := range checks {
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestScheduleWire(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []int{0, 6}, wireWeekdays([]time.Weekday{time.Sunday, time.Monday}))
	for _, d := range []time.Weekday{time.Sunday, time.Monday, time.Saturday} {
		back := scheduleFromSettings([]byte(`{"schedule": true, "run_interval": "60", "weekdays": [` +
			string(rune('0'+wireWeekdays([]time.Weekday{d})[0])) + `]}`))
		require.NotNil(t, back)
		assert.Equal(t, []time.Weekday{d}, back.Weekdays)
		assert.Equal(t, time.Minute, back.Interval)
	}
	assert.Nil(t, scheduleFromSettings(nil))
	assert.Nil(t, scheduleFromSettings([]byte(`{"other": 1}`)))
	assert.Equal(t, &Schedule{Disabled: true}, scheduleFromSettings([]byte(`{"schedule": false, "run_interval": 60}`)))

	daily := &Schedule{Interval: 24 * time.Hour, StartTime: At(6, 0), Weekdays: []time.Weekday{time.Friday, time.Monday}}
	same := &Schedule{Interval: 24 * time.Hour, StartTime: &TimeOfDay{6, 0, 0}, Weekdays: []time.Weekday{time.Monday, time.Friday, time.Monday}}
	assert.True(t, sameSchedule(daily, same))
	assert.True(t, sameSchedule(nil, &Schedule{Disabled: true}))
	assert.False(t, sameSchedule(daily, nil))
	assert.False(t, sameSchedule(daily, &Schedule{Interval: 24 * time.Hour}))
	assert.Equal(t, "06:00:00", At(6, 0).String())
}
