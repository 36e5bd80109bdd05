package peliqan

import "strings"

// BackoffKind chooses how the wait between retries grows. It is an open
// string enum: RetryPolicy validation refuses values it does not know, so a
// typo fails at construction rather than silently changing behaviour.
type BackoffKind string

const (
	// BackoffExponentialJitter waits a random duration in
	// [0, min(MaxWait, MinWait*2^n)] ("full jitter"). The default: it spreads
	// retries from many clients apart.
	BackoffExponentialJitter BackoffKind = "exponential_jitter"
	// BackoffExponential waits min(MaxWait, MinWait*2^n).
	BackoffExponential BackoffKind = "exponential"
	// BackoffLinear waits min(MaxWait, MinWait*(n+1)).
	BackoffLinear BackoffKind = "linear"
	// BackoffConstant always waits MinWait.
	BackoffConstant BackoffKind = "constant"
)

// IsKnown reports whether k is one of the declared kinds.
func (k BackoffKind) IsKnown() bool {
	switch k {
	case BackoffExponentialJitter, BackoffExponential, BackoffLinear, BackoffConstant:
		return true
	}
	return false
}

// HealthStatus is a connection's health_status. It is an open string enum:
// a value this SDK does not know decodes, round-trips and compares as sent,
// and IsKnown reports false for it. The helpers compare without regard to
// case or surrounding blanks, and every one of them is false for an unknown
// value (an unknown status is never healthy).
//
// Each documented value belongs to exactly one helper:
//
//	value                   helper                 meaning
//	OK, HEALTHY             IsHealthy              working
//	RE_ENABLED              IsHealthy              turned back on after being disabled
//	RE_AUTHORISED           IsHealthy              the customer renewed its credentials
//	AUTHORIZING             NeedsReauthorisation   an authorisation was started and awaits the customer
//	RE_AUTHORISING          NeedsReauthorisation   a re-authorisation was started and awaits the customer
//	CONFIG_SELECT           NeedsReauthorisation   the customer has not finished the connect form
//	CHECKING                InProgress             Peliqan is checking the connection
//	ERROR                   IsFailed               the connection or its last sync failed
//	COMPLETED_WITH_ERRORS   IsFailed               the last sync finished, some tables failed
//	DISABLED                IsDisabled             turned off (by a user, or by the connector itself)
//
// NeedsReauthorisation means the customer has to go through the connect or
// authorisation flow (the embed widget, or the URL from ReAuthoriseServer)
// before the connection can sync.
type HealthStatus string

// The documented health statuses.
const (
	HealthOK                  HealthStatus = "OK"
	HealthHealthy             HealthStatus = "HEALTHY"
	HealthError               HealthStatus = "ERROR"
	HealthChecking            HealthStatus = "CHECKING"
	HealthAuthorizing         HealthStatus = "AUTHORIZING"
	HealthConfigSelect        HealthStatus = "CONFIG_SELECT"
	HealthDisabled            HealthStatus = "DISABLED"
	HealthReEnabled           HealthStatus = "RE_ENABLED"
	HealthReAuthorised        HealthStatus = "RE_AUTHORISED"
	HealthReAuthorising       HealthStatus = "RE_AUTHORISING"
	HealthCompletedWithErrors HealthStatus = "COMPLETED_WITH_ERRORS"
)

type healthClass uint8

const (
	healthUnknown healthClass = iota
	healthGood
	healthNeedsAuth
	healthBusy
	healthFailed
	healthOff
)

var healthClasses = map[HealthStatus]healthClass{
	HealthOK: healthGood, HealthHealthy: healthGood, HealthReEnabled: healthGood, HealthReAuthorised: healthGood,
	HealthAuthorizing: healthNeedsAuth, HealthReAuthorising: healthNeedsAuth, HealthConfigSelect: healthNeedsAuth,
	HealthChecking:            healthBusy,
	HealthError:               healthFailed,
	HealthCompletedWithErrors: healthFailed,
	HealthDisabled:            healthOff,
}

func (h HealthStatus) class() healthClass {
	if c, ok := healthClasses[h]; ok {
		return c
	}
	return healthClasses[HealthStatus(strings.ToUpper(strings.TrimSpace(string(h))))]
}

// IsKnown reports whether h is one of the documented values.
func (h HealthStatus) IsKnown() bool { return h.class() != healthUnknown }

// IsHealthy reports OK, HEALTHY, RE_ENABLED and RE_AUTHORISED.
func (h HealthStatus) IsHealthy() bool { return h.class() == healthGood }

// NeedsReauthorisation reports AUTHORIZING, RE_AUTHORISING and
// CONFIG_SELECT: the customer has to act before the connection can sync.
func (h HealthStatus) NeedsReauthorisation() bool { return h.class() == healthNeedsAuth }

// InProgress reports CHECKING.
func (h HealthStatus) InProgress() bool { return h.class() == healthBusy }

// IsFailed reports ERROR and COMPLETED_WITH_ERRORS.
func (h HealthStatus) IsFailed() bool { return h.class() == healthFailed }

// IsDisabled reports DISABLED.
func (h HealthStatus) IsDisabled() bool { return h.class() == healthOff }

// RunStatus is the status of a pipeline run (a sync). It is an open string
// enum like HealthStatus: unknown values decode and round-trip, IsKnown
// reports false for them, and every helper is false for them. Helpers
// compare without regard to case or surrounding blanks.
//
//	value                   InProgress  IsTerminal  Succeeded  HasErrors  IsFailed
//	RUNNING                 yes
//	IN_PROGRESS             yes
//	SYNC_IN_PROGRESS        yes
//	COMPLETED                           yes         yes
//	COMPLETED_WITH_ERRORS               yes                    yes
//	ERROR                               yes                    yes        yes
//	INTERNAL_ERROR                      yes                    yes        yes
//
// COMPLETED_WITH_ERRORS finished and loaded data, but some tables failed;
// IsFailed is for runs that did not complete.
type RunStatus string

// The documented run statuses.
const (
	RunRunning             RunStatus = "RUNNING"
	RunInProgress          RunStatus = "IN_PROGRESS"
	RunSyncInProgress      RunStatus = "SYNC_IN_PROGRESS"
	RunCompleted           RunStatus = "COMPLETED"
	RunCompletedWithErrors RunStatus = "COMPLETED_WITH_ERRORS"
	RunError               RunStatus = "ERROR"
	RunInternalError       RunStatus = "INTERNAL_ERROR"
)

func (r RunStatus) norm() RunStatus {
	switch r {
	case RunRunning, RunInProgress, RunSyncInProgress, RunCompleted, RunCompletedWithErrors, RunError, RunInternalError:
		return r
	}
	return RunStatus(strings.ToUpper(strings.TrimSpace(string(r))))
}

// IsKnown reports whether r is one of the documented values.
func (r RunStatus) IsKnown() bool { return r.InProgress() || r.IsTerminal() }

// InProgress reports RUNNING, IN_PROGRESS and SYNC_IN_PROGRESS.
func (r RunStatus) InProgress() bool {
	switch r.norm() {
	case RunRunning, RunInProgress, RunSyncInProgress:
		return true
	}
	return false
}

// IsTerminal reports the statuses a run ends in: COMPLETED,
// COMPLETED_WITH_ERRORS, ERROR and INTERNAL_ERROR.
func (r RunStatus) IsTerminal() bool { return r.Succeeded() || r.HasErrors() }

// Succeeded reports COMPLETED.
func (r RunStatus) Succeeded() bool { return r.norm() == RunCompleted }

// HasErrors reports COMPLETED_WITH_ERRORS, ERROR and INTERNAL_ERROR.
func (r RunStatus) HasErrors() bool {
	switch r.norm() {
	case RunCompletedWithErrors, RunError, RunInternalError:
		return true
	}
	return false
}

// IsFailed reports ERROR and INTERNAL_ERROR: the run did not complete.
func (r RunStatus) IsFailed() bool {
	switch r.norm() {
	case RunError, RunInternalError:
		return true
	}
	return false
}
