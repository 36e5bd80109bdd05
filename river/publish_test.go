package peliqanriver_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/peliqan-community/peliqan-go"
	"github.com/peliqan-community/peliqan-go/peliqantest"
	peliqanriver "github.com/peliqan-community/peliqan-go/river"
)

// Publishing a template: one job per customer, each outcome recorded;
// publishing again changes nothing (PublishScript's idempotence), and a
// 429 snoozes the job instead of failing it.
func TestPublishScriptJobs(t *testing.T) {
	t.Parallel()
	f := peliqantest.NewFake(t, peliqantest.WithFixture(peliqantest.Generate(6, 4, 1, 1)))
	p := partnerFor(t, f)
	ctx := context.Background()
	var subs []peliqan.ID
	for sa, err := range p.SubAccounts(ctx, nil) {
		require.NoError(t, err)
		subs = append(subs, sa.ID)
	}
	require.Len(t, subs, 4)
	_, db := tempSQLite(t)
	w := startSQLiteWorker(t, db, p, testOptions())
	tmpl := peliqan.ScriptTemplate{Name: "weekly-digest", Code: "print('digest v1')"}

	f.FailNext(peliqan.RouteListScripts, 1, peliqantest.RetryAfterFault(429, "1"))
	_, err := w.client.InsertMany(ctx, peliqanriver.PublishScriptJobs(tmpl, subs))
	require.NoError(t, err)
	waitJobsFinished(t, w.db, 30*time.Second)
	rows, err := w.jobs.Publishes(ctx, tmpl.Name)
	require.NoError(t, err)
	require.Len(t, rows, 4)
	for _, r := range rows {
		assert.Equal(t, peliqan.PublishCreated, r.Outcome, "%+v", r)
		assert.NotZero(t, r.ObjectID)
		assert.Empty(t, r.Error)
	}

	// The 429 snoozed its job: no job recorded an error.
	var errored int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM river_job WHERE kind = ? AND errors IS NOT NULL`,
		peliqanriver.KindPublishScript).Scan(&errored))
	assert.Zero(t, errored)

	creates := f.Count(peliqan.RouteCreateScript)
	_, err = w.client.InsertMany(ctx, peliqanriver.PublishScriptJobs(tmpl, subs))
	require.NoError(t, err)
	waitJobsFinished(t, w.db, 30*time.Second)
	rows, err = w.jobs.Publishes(ctx, tmpl.Name)
	require.NoError(t, err)
	for _, r := range rows {
		assert.Equal(t, peliqan.PublishUnchanged, r.Outcome)
	}
	assert.Equal(t, creates, f.Count(peliqan.RouteCreateScript), "no second script")
}
