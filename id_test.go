package peliqan

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDDecodesNumbersAndNumericStrings(t *testing.T) {
	t.Parallel()
	var v struct {
		A, B, C, D ID
	}
	require.NoError(t, json.Unmarshal([]byte(`{"A":12,"B":"34","C":null,"D":""}`), &v))
	assert.Equal(t, ID(12), v.A)
	assert.Equal(t, ID(34), v.B)
	assert.Zero(t, v.C)
	assert.Zero(t, v.D)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"A":12,"B":34,"C":0,"D":0}`, string(out))
	assert.Error(t, json.Unmarshal([]byte(`{"A":"abc"}`), &v))
	assert.Error(t, json.Unmarshal([]byte(`{"A":1.5}`), &v))

	id, err := ParseID("77")
	require.NoError(t, err)
	assert.Equal(t, "77", id.String())
	for _, bad := range []string{"", "0", "-1", "x"} {
		_, err := ParseID(bad)
		assert.ErrorIs(t, err, ErrInvalidArgument, bad)
	}
}
