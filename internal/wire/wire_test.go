package wire

import (
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw    string
		more   bool
		params url.Values
	}{
		{``, false, nil}, {`null`, false, nil}, {`false`, false, nil}, {`""`, false, nil}, {`0`, false, nil},
		{`"None"`, false, nil},
		{`true`, true, nil},
		{`3`, true, url.Values{"page": {"3"}}},
		{`"4"`, true, url.Values{"page": {"4"}}},
		{`"https://evil.test/x/?page=2&per_page=50&token=abc&external_id=z"`, true, url.Values{"page": {"2"}, "per_page": {"50"}}},
		{`"/api/database/rows/table/1/?size=100&page=3&user_field_names=true"`, true, url.Values{"page": {"3"}, "size": {"100"}}},
		{`"https://x.test/next"`, true, url.Values{}},
	}
	for _, tc := range cases {
		params, more, err := ParseNext(json.RawMessage(tc.raw))
		require.NoError(t, err, tc.raw)
		assert.Equal(t, tc.more, more, tc.raw)
		if tc.params != nil {
			assert.Equal(t, tc.params, params, tc.raw)
		}
	}
	_, _, err := ParseNext(json.RawMessage(`{}`))
	assert.Error(t, err)
}

func TestDecodeList(t *testing.T) {
	t.Parallel()
	l, err := DecodeList[int]([]byte(" [1,2]"))
	require.NoError(t, err)
	assert.Equal(t, Array, l.Shape)
	assert.Equal(t, []int{1, 2}, l.Items)
	l, err = DecodeList[int]([]byte(`{"data":[3],"next":"x"}`))
	require.NoError(t, err)
	assert.Equal(t, Data, l.Shape)
	assert.Equal(t, `"x"`, string(l.Next))
	l, err = DecodeList[int]([]byte(`{"count":9,"results":[4],"next":null,"previous":null}`))
	require.NoError(t, err)
	assert.Equal(t, Results, l.Shape)
	assert.Equal(t, 9, l.Count)
	l, err = DecodeList[int]([]byte(`{"count":0}`))
	require.NoError(t, err)
	assert.Empty(t, l.Items)
	_, err = DecodeList[int]([]byte(`{"error":"x"}`))
	assert.ErrorIs(t, err, ErrNotAList)
	_, err = DecodeList[int]([]byte(`"x"`))
	assert.ErrorIs(t, err, ErrNotAList)
	_, err = DecodeList[int]([]byte(``))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = DecodeList[int]([]byte(`[1,`))
	assert.Error(t, err)
}

func TestReadCapped(t *testing.T) {
	t.Parallel()
	b, err := ReadCapped(strings.NewReader("hello"), 5, 5)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b))
	b, err = ReadCapped(strings.NewReader("hello!"), 5, -1)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, "hello", string(b))
	_, err = ReadCapped(io.MultiReader(strings.NewReader("ab"), errReader{}), 10, 100)
	assert.ErrorIs(t, err, errBoom)
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func TestMarshalAndQuery(t *testing.T) {
	t.Parallel()
	b, err := Marshal(map[string]string{"q": "a<b && c>d"})
	require.NoError(t, err)
	assert.Equal(t, `{"q":"a<b && c>d"}`, string(b))
	type opts struct {
		Page int    `url:"page,omitempty"`
		Name string `url:"name,omitempty"`
	}
	q, err := Query(&opts{Page: 2, Name: "a b"})
	require.NoError(t, err)
	assert.Equal(t, "name=a+b&page=2", q.Encode())
	q, err = Query((*opts)(nil))
	require.NoError(t, err)
	assert.Nil(t, q)
	q, err = Query(url.Values{"x": {"1"}})
	require.NoError(t, err)
	assert.Equal(t, "x=1", q.Encode())
}

// TestReadCappedSizeHint covers the exact-size read a Content-Length allows:
// a body that matches, ends early (cleanly or not), runs past the hint, or
// runs past the limit, read in any chunking.
func TestReadCappedSizeHint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		r           func() io.Reader
		limit, hint int64
		want        string
		err         error
	}{
		{"exact", func() io.Reader { return strings.NewReader("hello") }, 10, 5, "hello", nil},
		{"exact one byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader("hello")) }, 10, 5, "hello", nil},
		{"exact with data and EOF together", func() io.Reader { return iotest.DataErrReader(strings.NewReader("hello")) }, 10, 5, "hello", nil},
		{"empty", func() io.Reader { return strings.NewReader("") }, 10, 0, "", nil},
		{"shorter, clean EOF", func() io.Reader { return strings.NewReader("hel") }, 10, 5, "hel", nil},
		{"cut short", func() io.Reader { return io.MultiReader(strings.NewReader("hel"), errReaderOf{io.ErrUnexpectedEOF}) }, 10, 5, "hel", io.ErrUnexpectedEOF},
		{"error after the body", func() io.Reader { return io.MultiReader(strings.NewReader("hello"), errReader{}) }, 10, 5, "hello", errBoom},
		{"longer than the hint", func() io.Reader { return strings.NewReader("hello world") }, 20, 5, "hello world", nil},
		{"longer than the hint, one byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader("hello world")) }, 20, 5, "hello world", nil},
		{"past the limit", func() io.Reader { return strings.NewReader("hello world") }, 8, 5, "hello wo", ErrTooLarge},
		{"hint at the limit, body past it", func() io.Reader { return strings.NewReader("hello!") }, 5, 5, "hello", ErrTooLarge},
		{"hint over the limit", func() io.Reader { return strings.NewReader("hello!") }, 5, 6, "hello", ErrTooLarge},
		{"no hint", func() io.Reader { return strings.NewReader("hello") }, 10, -1, "hello", nil},
	}
	for _, tc := range cases {
		got, err := ReadCapped(tc.r(), tc.limit, tc.hint)
		if tc.err != nil {
			assert.ErrorIs(t, err, tc.err, tc.name)
		} else {
			assert.NoError(t, err, tc.name)
		}
		assert.Equal(t, tc.want, string(got), tc.name)
	}
}

type errReaderOf struct{ err error }

func (e errReaderOf) Read([]byte) (int, error) { return 0, e.err }
