package peliqan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reference decoder below is Server.UnmarshalJSON as it was before the
// decoding was made cheaper (every member copied as json.RawMessage or
// re-decoded through encoding/json). The fast paths must give exactly what
// it gives, for every input: the tests and the fuzz target compare them.

type refString string

func (s *refString) UnmarshalJSON(b []byte) error { *s = refString(refText(b)); return nil }

type refBool bool

func (v *refBool) UnmarshalJSON(b []byte) error {
	t := strings.ToLower(strings.TrimSpace(refText(b)))
	switch t {
	case "", "false", "0", "no", "none":
		*v = false
	case "true", "1", "yes":
		*v = true
	default:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", t)
		}
		*v = f != 0
	}
	return nil
}

type refFloat float64

func (v *refFloat) UnmarshalJSON(b []byte) error {
	t := strings.TrimSpace(refText(b))
	if t == "" {
		*v = 0
		return nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", t)
	}
	*v = refFloat(f)
	return nil
}

func refText(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

func refTarget(target, schema json.RawMessage) (ID, *TargetSchema) {
	var id ID
	target = bytes.TrimSpace(target)
	if len(target) > 0 && target[0] == '{' {
		var o struct {
			ID ID `json:"id"`
		}
		if json.Unmarshal(target, &o) == nil {
			id = o.ID
		}
	} else if json.Unmarshal(target, &id) != nil || id < 0 {
		id = 0
	}
	schema = bytes.TrimSpace(schema)
	var ts TargetSchema
	switch {
	case len(schema) == 0:
		return id, nil
	case schema[0] == '{':
		var o struct {
			SchemaName refString       `json:"schema_name"`
			Name       refString       `json:"name"`
			ID         json.RawMessage `json:"id"`
		}
		if json.Unmarshal(schema, &o) != nil {
			return id, nil
		}
		ts.SchemaName = svFirst(string(o.SchemaName), string(o.Name))
		if json.Unmarshal(o.ID, &ts.ID) != nil || ts.ID < 0 {
			ts.ID = 0
		}
	case schema[0] == '"':
		ts.SchemaName = refText(schema)
	}
	if ts.SchemaName == "" && ts.ID == 0 {
		return id, nil
	}
	return id, &ts
}

func refServerDecode(b []byte) (Server, error) {
	var w struct {
		ID               ID              `json:"id"`
		ConnectionID     ID              `json:"connection_id"`
		Name             refString       `json:"name"`
		ServerType       json.RawMessage `json:"server_type"`
		HealthStatus     refString       `json:"health_status"`
		RunInterval      refFloat        `json:"run_interval"`
		DisableScheduler refBool         `json:"disable_scheduler"`
		IsDataWarehouse  refBool         `json:"is_datawarehouse"`
		IsTarget         refBool         `json:"is_target"`
		Target           json.RawMessage `json:"target"`
		TargetSchema     json.RawMessage `json:"target_schema"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Server{}, err
	}
	target, targetSchema := refTarget(w.Target, w.TargetSchema)
	s := Server{ID: w.ID, Name: string(w.Name), ServerType: refText(w.ServerType),
		HealthStatus: HealthStatus(w.HealthStatus), SchedulerDisabled: bool(w.DisableScheduler),
		IsDataWarehouse: bool(w.IsDataWarehouse), IsTarget: bool(w.IsTarget),
		Target: target, TargetSchema: targetSchema, Raw: append(json.RawMessage(nil), b...)}
	if s.ID == 0 {
		s.ID = w.ConnectionID
	}
	if w.RunInterval > 0 && float64(w.RunInterval) < math.MaxInt64/float64(time.Second) {
		s.RunInterval = time.Duration(float64(w.RunInterval) * float64(time.Second))
	}
	return s, nil
}

// serverDecodeCorpus covers every tolerant form of every member.
var serverDecodeCorpus = []string{
	`{"id": 1, "name": "HubSpot", "server_type": "hubspot", "health_status": "OK", "run_interval": 3600}`,
	`{"connection_id": "7", "name": null, "server_type": 12, "health_status": "SOMETHING_NEW", "run_interval": "86400",
		"disable_scheduler": "true", "is_datawarehouse": 1, "is_target": false, "extra": {"a": 1}}`,
	`{"id": 3, "server_type": {"name": "xero", "v": [1, 2]}}`,
	`{"id": "x"}`, `{"id": 1.5}`, `{"id": null, "connection_id": null}`, `{"id": ""}`,
	`{"id": 1, "name": "caf\u00e9 \"q\" \\ \n tab\t", "server_type": "a\/b"}`,
	`{"id": 1, "name": "café ✓ 😀", "health_status": "ok"}`,
	"{\"id\": 1, \"name\": \"bad \xff utf8\", \"server_type\": \"\xc3\"}",
	`{"id": 1, "name": 42, "health_status": true, "server_type": -0.5e3}`,
	`{"id": 1, "name": [1, "a"], "health_status": {"x": null}}`,
	`{"id": 1, "run_interval": -5}`, `{"id": 1, "run_interval": 1e300}`, `{"id": 1, "run_interval": 1e999}`,
	`{"id": 1, "run_interval": "  12.5 "}`, `{"id": 1, "run_interval": ""}`, `{"id": 1, "run_interval": "abc"}`,
	`{"id": 1, "run_interval": true}`, `{"id": 1, "run_interval": null}`, `{"id": 1, "run_interval": 0.25}`,
	`{"id": 1, "run_interval": -0}`, `{"id": 1, "run_interval": [1]}`,
	`{"id": 1, "disable_scheduler": true, "is_datawarehouse": false, "is_target": null}`,
	`{"id": 1, "disable_scheduler": "yes", "is_datawarehouse": "No", "is_target": "None"}`,
	`{"id": 1, "disable_scheduler": 0.0, "is_datawarehouse": 2, "is_target": "0"}`,
	`{"id": 1, "disable_scheduler": "maybe"}`, `{"id": 1, "is_target": {}}`, `{"id": 1, "is_target": []}`,
	`{"id": 1, "disable_scheduler": " TRUE "}`,
	`{"id": 1, "target": 5, "target_schema": {"schema_name": "hubspot_c1"}}`,
	`{"id": 1, "target": "5", "target_schema": {"schema_name": "x", "id": "12"}}`,
	`{"id": 1, "target": {"id": 6, "name": "dw"}, "target_schema": "crm"}`,
	`{"id": 1, "target": {"id": -6}, "target_schema": "cr\u006d"}`,
	`{"id": 1, "target": null, "target_schema": null}`, `{"id": 1, "target": "dw", "target_schema": {}}`,
	`{"id": 1, "target": [1], "target_schema": [1]}`, `{"id": 1, "target": -3, "target_schema": {"schema_name": null, "id": -2}}`,
	`{"id": 1, "target_schema": {"name": "legacy"}}`, `{"id": 1, "target_schema": 12}`,
	`{"id": 1, "target_schema": {"schema_name": {"odd": true}}, "target": true}`,
	`{"id": 1, "target": {"id": "x"}, "target_schema": {"schema_name": 5, "id": 1.5}}`,
	`{"id": 1, "target": 5, "target": "x", "target_schema": "a", "target_schema": null}`,
	`{"id": 1, "name": "a", "name": null, "run_interval": 5, "run_interval": null}`,
	`{"id": 1, "target": 9223372036854775808}`, `{"id": 1, "target": ""}`,
	`{}`, `null`, `[]`, `"x"`, `{"id": 1`, ``,
}

func TestServerDecodeMatchesReference(t *testing.T) {
	t.Parallel()
	for _, in := range serverDecodeCorpus {
		assertServerDecodeMatches(t, []byte(in))
	}
	// As list items too: the fast paths see members through a list decode.
	var list []Server
	require.NoError(t, json.Unmarshal(benchListBody(5), &list))
	for i, s := range list {
		want, err := refServerDecode(s.Raw)
		require.NoError(t, err)
		assert.Equal(t, want, s, "item %d", i)
	}
}

func assertServerDecodeMatches(t *testing.T, in []byte) {
	t.Helper()
	want, wantErr := refServerDecode(in)
	var got Server
	gotErr := json.Unmarshal(in, &got)
	if wantErr != nil {
		assert.Error(t, gotErr, "%s", in)
		return
	}
	if assert.NoError(t, gotErr, "%s", in) {
		assert.Equal(t, want, got, "%s", in)
	}
}

func TestSvTextMatchesReference(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `null`, ` "a" `, `"caf\u00e9"`, `"\ud800"`, "\"\xff\"", `"a\"b"`, `"tab	in"`,
		`12`, `-0.5e3`, `1e999`, `true`, `false`, `tru`, `[1, 2]`, `{"a": 1}`, `"`, `"abc`, `-`, `01`, `nul`} {
		assert.Equal(t, refText([]byte(in)), svText([]byte(in)), "%q", in)
	}
}

// FuzzServerDecode checks the fast decoding against the reference on any
// connection object.
func FuzzServerDecode(f *testing.F) {
	for _, in := range serverDecodeCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := refServerDecode(in)
		var got Server
		gotErr := got.UnmarshalJSON(in) // as the reference is called: untrimmed
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%q: error %v, reference %v", in, gotErr, wantErr)
		}
		if wantErr == nil && !assert.ObjectsAreEqual(want, got) {
			t.Fatalf("%q: got %+v, reference %+v", in, got, want)
		}
		if got, want := svText(in), refText(in); got != want {
			t.Fatalf("svText(%q) = %q, reference %q", in, got, want)
		}
	})
}

// TestUnmarshalJSONMatchesEncodingJSON checks the core's shortcut to a
// type's own UnmarshalJSON against json.Unmarshal: same value, same error.
func TestUnmarshalJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	bodies := []string{`{"id": 3, "name": "x"}`, " \r\n\t{\"id\": \"4\"}\n ", `null`, ` null `, `{"id": "x"}`,
		`{"id": 1} {"id": 2}`, `{"id": 1`, `{"id": 1}x`, "\f{\"id\": 1}", `"12"`, `12`, `[1]`, `"\u00e9"`, `true`}
	outs := map[string]func() any{
		"*Server":   func() any { return new(Server) },
		"*ID":       func() any { return new(ID) },
		"*svString": func() any { return new(svString) },
		"*svBool":   func() any { return new(svBool) },
		"*map":      func() any { return new(map[string]any) },
	}
	for _, body := range bodies {
		for name, mk := range outs {
			want, got := mk(), mk()
			wantErr := json.Unmarshal([]byte(body), want)
			gotErr := unmarshalJSON([]byte(body), got)
			if wantErr != nil {
				if assert.Error(t, gotErr, "%s into %s", body, name) {
					assert.Equal(t, wantErr.Error(), gotErr.Error(), "%s into %s", body, name)
					assert.IsType(t, wantErr, gotErr, "%s into %s", body, name)
				}
				continue
			}
			assert.NoError(t, gotErr, "%s into %s", body, name)
			assert.Equal(t, want, got, "%s into %s", body, name)
		}
	}
}
