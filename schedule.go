package peliqan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/peliqan-community/peliqan-go/internal/wire"
)

// Schedule says when Peliqan runs a script on its own. It maps to the
// script's settings {schedule, run_interval, weekdays, start_time}, the shape
// Peliqan's own tooling (its MCP server's update_data_app) writes.
//
//	peliqan.Schedule{Interval: time.Hour}                                   // every hour
//	peliqan.Schedule{Interval: 24 * time.Hour, StartTime: peliqan.At(6, 0)} // daily at 06:00
//	peliqan.Schedule{Interval: 24 * time.Hour,                              // weekdays only
//		Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}}
//	peliqan.Schedule{Disabled: true}                                        // unschedule
type Schedule struct {
	// Interval between runs: whole seconds, at least one minute.
	Interval time.Duration
	// Weekdays, when set, limits runs to these days. On the wire Monday is
	// 0 and Sunday 6 (Python's weekday(), as Peliqan's tooling counts;
	// inferred); here they are plain time.Weekday values.
	Weekdays []time.Weekday
	// StartTime, when set, is the time of day runs are aligned to.
	StartTime *TimeOfDay
	// Disabled turns scheduled runs off; the other fields are ignored.
	Disabled bool
}

// TimeOfDay is a wall-clock time, sent as "HH:MM:SS".
type TimeOfDay struct {
	Hour, Minute, Second int
}

// At returns the time of day hour:minute.
func At(hour, minute int) *TimeOfDay { return &TimeOfDay{Hour: hour, Minute: minute} }

// String gives "HH:MM:SS".
func (t TimeOfDay) String() string {
	return fmt.Sprintf("%02d:%02d:%02d", t.Hour, t.Minute, t.Second)
}

func (t TimeOfDay) valid() bool {
	return t.Hour >= 0 && t.Hour < 24 && t.Minute >= 0 && t.Minute < 60 && t.Second >= 0 && t.Second < 60
}

func parseTimeOfDay(s string) (*TimeOfDay, bool) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, false
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.SplitN(p, ".", 2)[0])
		if err != nil {
			return nil, false
		}
		n[i] = v
	}
	t := &TimeOfDay{n[0], n[1], n[2]}
	return t, t.valid()
}

func (s *Schedule) validate() error {
	if s == nil || s.Disabled {
		return nil
	}
	switch {
	case s.Interval < time.Minute:
		return invalidArg("Schedule.Interval", "must be at least one minute (got %s)", s.Interval)
	case s.Interval%time.Second != 0:
		return invalidArg("Schedule.Interval", "must be whole seconds (got %s)", s.Interval)
	}
	for _, d := range s.Weekdays {
		if d < time.Sunday || d > time.Saturday {
			return invalidArg("Schedule.Weekdays", "%d is not a weekday", int(d))
		}
	}
	if s.StartTime != nil && !s.StartTime.valid() {
		return invalidArg("Schedule.StartTime", "%s is not a time of day", s.StartTime)
	}
	return nil
}

// scheduleSettings is the wire form of a Schedule.
type scheduleSettings struct {
	Schedule    bool   `json:"schedule"`
	RunInterval int64  `json:"run_interval,omitempty"`
	Weekdays    []int  `json:"weekdays,omitempty"`
	StartTime   string `json:"start_time,omitempty"`
}

func (s *Schedule) settings() scheduleSettings {
	if s.Disabled {
		return scheduleSettings{Schedule: false}
	}
	out := scheduleSettings{Schedule: true, RunInterval: int64(s.Interval / time.Second)}
	if len(s.Weekdays) > 0 {
		out.Weekdays = wireWeekdays(s.Weekdays)
	}
	if s.StartTime != nil {
		out.StartTime = s.StartTime.String()
	}
	return out
}

// wireWeekdays maps time.Weekday (Sunday 0) to Monday-0 numbers, sorted
// and without repeats.
func wireWeekdays(days []time.Weekday) []int {
	out := make([]int, 0, len(days))
	for _, d := range days {
		out = append(out, (int(d)+6)%7)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scheduleFromSettings reads a script's settings back into a Schedule: nil
// when the settings hold no schedule, Disabled when it is switched off.
func scheduleFromSettings(raw json.RawMessage) *Schedule {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var w struct {
		Schedule    *bool           `json:"schedule"`
		RunInterval json.RawMessage `json:"run_interval"`
		Weekdays    []int           `json:"weekdays"`
		StartTime   string          `json:"start_time"`
	}
	if json.Unmarshal(raw, &w) != nil || w.Schedule == nil {
		return nil
	}
	if !*w.Schedule {
		return &Schedule{Disabled: true}
	}
	s := &Schedule{}
	if n, err := strconv.ParseFloat(strings.Trim(string(w.RunInterval), `"`), 64); err == nil {
		s.Interval = time.Duration(n) * time.Second
	}
	for _, d := range w.Weekdays {
		if d >= 0 && d <= 6 {
			s.Weekdays = append(s.Weekdays, time.Weekday((d+1)%7))
		}
	}
	if t, ok := parseTimeOfDay(w.StartTime); ok {
		s.StartTime = t
	}
	return s
}

// sameSchedule reports whether two schedules mean the same thing: no
// schedule and a disabled one are alike, weekdays compare as sets.
func sameSchedule(a, b *Schedule) bool {
	offA, offB := a == nil || a.Disabled, b == nil || b.Disabled
	if offA || offB {
		return offA == offB
	}
	sa, sb := a.settings(), b.settings()
	return sa.RunInterval == sb.RunInterval && sa.StartTime == sb.StartTime && slices.Equal(sa.Weekdays, sb.Weekdays)
}

// mergeSchedule writes sch into a script's current settings object, keeping
// every other member as it is. weekdays and start_time are removed when sch
// does not set them (no restriction); a disabled schedule only sets
// "schedule": false.
func mergeSchedule(current json.RawMessage, sch *Schedule) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if c := bytes.TrimSpace(current); len(c) > 0 && c[0] == '{' {
		if err := json.Unmarshal(c, &m); err != nil {
			m = map[string]json.RawMessage{}
		}
	}
	set := sch.settings()
	put := func(k string, v any) {
		b, _ := json.Marshal(v)
		m[k] = b
	}
	put("schedule", set.Schedule)
	if !sch.Disabled {
		put("run_interval", set.RunInterval)
		delete(m, "weekdays")
		delete(m, "start_time")
		if set.Weekdays != nil {
			put("weekdays", set.Weekdays)
		}
		if set.StartTime != "" {
			put("start_time", set.StartTime)
		}
	}
	return wire.Marshal(m)
}
