package jsontext

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestAppendStringAsEncodingJSON(t *testing.T) {
	if !MatchesEncodingJSON() {
		t.Skip("this build's encoding/json writes strings otherwise (GOEXPERIMENT=jsonv2); the encoders use it instead")
	}
	for _, s := range []string{"", "plain", `a"b\c`, "<a href='x'>&amp;</a>", "\x00\x01\x1f\x7f\b\f\n\r\t", "\u2028\u2029", "é日本🙂", "bad \xff byte", "\xc3"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		got, ok := AppendString([]byte("prefix"), s)
		require.Equal(t, "prefix"+string(want), string(got), "%q", s)
		require.Equal(t, utf8.ValidString(s), ok, "%q", s)
	}
}

// FuzzAppendString holds AppendString to json.Marshal on any string.
func FuzzAppendString(f *testing.F) {
	if !MatchesEncodingJSON() {
		f.Skip("this build's encoding/json writes strings otherwise (GOEXPERIMENT=jsonv2)")
	}
	f.Add("a\"b\\c\n<&>")
	f.Add("\u2028\u2029\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		got, ok := AppendString(nil, s)
		require.Equal(t, string(want), string(got))
		require.Equal(t, utf8.ValidString(s), ok)
	})
}

// MatchesEncodingJSON tells whether this build's encoding/json quotes as
// AppendString does; invalid UTF-8 is where builds differ.
func TestMatchesEncodingJSON(t *testing.T) {
	want, err := json.Marshal("a\xffb")
	require.NoError(t, err)
	got, _ := AppendString(nil, "a\xffb")
	require.Equal(t, string(want) == string(got), MatchesEncodingJSON())
}
