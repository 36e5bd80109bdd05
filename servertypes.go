package peliqan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/peliqan-community/peliqan-go/internal/routes"
)

// ServerType is a connector definition ("server type"): what a connection
// of that kind needs in its connect form. Peliqan documents the route but
// not the shape of its answer, so decoding is tolerant: the form is read
// from "connect_form", "form", "fields" or "form_fields" (a list of fields, a
// {"fields": [...]} object, or an object of fields keyed by name), and every
// member the SDK does not know is kept in Extra.
type ServerType struct {
	// ID is what CreateServer sends as servertype_id.
	ID ID
	// Name is the connector's key ("hubspot", "pipedrive").
	Name string
	// Title is the display name, when the server sends one.
	Title string
	// ConnectForm lists the fields a new connection of this type takes, in
	// the order the server sent them.
	ConnectForm []ConnectField
	// Extra holds the members not listed above, as sent.
	Extra map[string]json.RawMessage
}

// ConnectField is one field of a connect form.
type ConnectField struct {
	Name     string
	Label    string
	Type     string // "string", "password", "select", ... as sent
	Required bool
	// Options are the allowed values of a choice field.
	Options []FieldOption
	// Default is the field's default value as sent, if any.
	Default json.RawMessage
	// Extra holds the members not listed above, as sent.
	Extra map[string]json.RawMessage
}

// FieldOption is one allowed value of a choice field.
type FieldOption struct {
	Value string
	Label string
}

var (
	serverTypeKeys = map[string][]string{
		"id":    {"id", "servertype_id", "server_type_id"},
		"name":  {"name", "key", "slug"},
		"title": {"title", "label", "display_name", "verbose_name"},
		"form":  {"connect_form", "connectForm", "connection_form", "form", "form_fields", "fields"},
	}
	fieldKeys = map[string][]string{
		"name":     {"name", "key", "field", "field_name", "id"},
		"label":    {"label", "title", "display_name", "verbose_name"},
		"type":     {"type", "field_type", "input_type", "widget"},
		"required": {"required", "is_required", "mandatory"},
		"options":  {"options", "choices", "values", "enum"},
		"default":  {"default", "default_value", "initial"},
	}
)

// UnmarshalJSON decodes a connector definition tolerantly (see ServerType).
func (s *ServerType) UnmarshalJSON(b []byte) error {
	top, err := orderedObject(b)
	if err != nil {
		return err
	}
	*s = ServerType{}
	used := map[string]bool{}
	if k, raw, ok := firstMember(top, serverTypeKeys["id"]); ok && s.ID.UnmarshalJSON(raw) == nil {
		used[k] = true
	}
	if k, raw, ok := firstMember(top, serverTypeKeys["name"]); ok {
		if v, ok := looseString(raw); ok {
			s.Name, used[k] = v, true
		}
	}
	if k, raw, ok := firstMember(top, serverTypeKeys["title"]); ok {
		if v, ok := looseString(raw); ok {
			s.Title, used[k] = v, true
		}
	}
	if k, raw, ok := firstMember(top, serverTypeKeys["form"]); ok {
		if form, ok := decodeForm(raw); ok {
			s.ConnectForm, used[k] = form, true
		}
	}
	s.Extra = leftovers(top, used)
	return nil
}

// UnmarshalJSON decodes a connect-form field tolerantly; a field with
// "optional": true is not required.
func (f *ConnectField) UnmarshalJSON(b []byte) error {
	top, err := orderedObject(b)
	if err != nil {
		return err
	}
	*f = ConnectField{}
	used := map[string]bool{}
	for _, slot := range []struct {
		key string
		dst *string
	}{{"name", &f.Name}, {"label", &f.Label}, {"type", &f.Type}} {
		if k, raw, ok := firstMember(top, fieldKeys[slot.key]); ok {
			if v, ok := looseString(raw); ok {
				*slot.dst, used[k] = v, true
			}
		}
	}
	if k, raw, ok := firstMember(top, fieldKeys["required"]); ok {
		if v, ok := looseBool(raw); ok {
			f.Required, used[k] = v, true
		}
	} else if k, raw, ok := firstMember(top, []string{"optional"}); ok {
		if v, ok := looseBool(raw); ok {
			f.Required, used[k] = !v, true
		}
	}
	if k, raw, ok := firstMember(top, fieldKeys["options"]); ok {
		if opts, ok := decodeOptions(raw); ok {
			f.Options, used[k] = opts, true
		}
	}
	if k, raw, ok := firstMember(top, fieldKeys["default"]); ok {
		f.Default, used[k] = raw, true
	}
	f.Extra = leftovers(top, used)
	return nil
}

// MissingFields lists, in form order, the required fields of the connect
// form that fields lacks: absent, nil, or a blank string.
func (s *ServerType) MissingFields(fields map[string]any) []string {
	var missing []string
	for _, f := range s.ConnectForm {
		if !f.Required || f.Name == "" {
			continue
		}
		v, ok := fields[f.Name]
		if str, isStr := v.(string); !ok || v == nil || (isStr && isBlank(str)) {
			missing = append(missing, f.Name)
		}
	}
	return missing
}

// Validate checks fields against the connect form before CreateServer: it
// returns an error matching ErrInvalidArgument that names every missing
// required field, or nil.
func (s *ServerType) Validate(fields map[string]any) error {
	missing := s.MissingFields(fields)
	if len(missing) == 0 {
		return nil
	}
	name := s.Name
	if name == "" {
		name = "server type " + s.ID.String()
	}
	return invalidArg("fields", "%s needs %s", name, strings.Join(missing, ", "))
}

// ServerTypes lists the connector definitions with their connect forms
// (GET /api/servertypes/, with the partner token), all pages.
func (p *PartnerClient) ServerTypes(ctx context.Context, opts ...RequestOption) ([]ServerType, error) {
	return listAll[ServerType](ctx, p.c, routes.MustLookup(routes.ServerTypes), nil, nil, opts)
}

var errNotObject = errors.New("not a JSON object")

type member struct {
	key string
	raw json.RawMessage
}

// orderedObject splits a JSON object into its members, in order.
func orderedObject(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var out []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{key: kt.(string), raw: raw})
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, err
	}
	return out, nil
}

func firstMember(ms []member, keys []string) (string, json.RawMessage, bool) {
	for _, k := range keys {
		for _, m := range ms {
			if m.key == k {
				return m.key, m.raw, true
			}
		}
	}
	return "", nil, false
}

func leftovers(ms []member, used map[string]bool) map[string]json.RawMessage {
	var extra map[string]json.RawMessage
	for _, m := range ms {
		if used[m.key] {
			continue
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage)
		}
		extra[m.key] = m.raw
	}
	return extra
}

// decodeForm reads a list of fields, {"fields": [...]}, or an object of
// fields keyed by name (in the order sent).
func decodeForm(raw json.RawMessage) ([]ConnectField, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	switch raw[0] {
	case '[':
		var fs []ConnectField
		if json.Unmarshal(raw, &fs) != nil {
			return nil, false
		}
		return fs, true
	case '{':
		ms, err := orderedObject(raw)
		if err != nil {
			return nil, false
		}
		if _, inner, ok := firstMember(ms, []string{"fields", "form_fields"}); ok {
			return decodeForm(inner)
		}
		var fs []ConnectField
		for _, m := range ms {
			var f ConnectField
			if json.Unmarshal(m.raw, &f) != nil {
				return nil, false
			}
			if f.Name == "" {
				f.Name = m.key
			}
			fs = append(fs, f)
		}
		return fs, true
	}
	return nil, false
}

// decodeOptions reads ["a", "b"], [1, 2], [["a", "A"]], or
// [{"value"/"id"/"key", "label"/"name"/"title"}].
func decodeOptions(raw json.RawMessage) ([]FieldOption, bool) {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	out := make([]FieldOption, 0, len(items))
	for _, it := range items {
		it = bytes.TrimSpace(it)
		if len(it) == 0 {
			continue
		}
		switch it[0] {
		case '{':
			ms, err := orderedObject(it)
			if err != nil {
				return nil, false
			}
			var o FieldOption
			if _, v, ok := firstMember(ms, []string{"value", "id", "key"}); ok {
				o.Value, _ = looseString(v)
			}
			if _, v, ok := firstMember(ms, []string{"label", "name", "title"}); ok {
				o.Label, _ = looseString(v)
			}
			out = append(out, o)
		case '[':
			var pair []json.RawMessage
			if json.Unmarshal(it, &pair) != nil || len(pair) == 0 {
				return nil, false
			}
			var o FieldOption
			o.Value, _ = looseString(pair[0])
			if len(pair) > 1 {
				o.Label, _ = looseString(pair[1])
			}
			out = append(out, o)
		default:
			v, ok := looseString(it)
			if !ok {
				return nil, false
			}
			out = append(out, FieldOption{Value: v, Label: v})
		}
	}
	return out, true
}
