package storage

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		want          []itsm.Change
		head          string // the raw value of after's "head" member
	}{
		{"create", ``, `{"b":1,"a":"x"}`, []itsm.Change{{Field: "a", To: `"x"`}, {Field: "b", To: "1"}}, ""},
		{"same", `{"a":1,"b":[1,{"c":"}"}]}`, `{"a":1,"b":[1,{"c":"}"}]}`, nil, ""},
		{"nested change", `{"a":1,"b":{"c":[1,2]}}`, `{"a":1,"b":{"c":[1,3]}}`, []itsm.Change{{Field: "b", From: `{"c":[1,2]}`, To: `{"c":[1,3]}`}}, ""},
		{"escaped quote in string", `{"a":"say \"hi\", then go"}`, `{"a":"say \"hi\", then run"}`,
			[]itsm.Change{{Field: "a", From: `"say \"hi\", then go"`, To: `"say \"hi\", then run"`}}, ""},
		{"member added and removed", `{"a":1,"gone":true}`, `{"a":1,"new":null}`,
			[]itsm.Change{{Field: "gone", From: "true"}, {Field: "new", To: "null"}}, ""},
		{"reordered members", `{"a":1,"b":2}`, `{"b":2,"a":5}`, []itsm.Change{{Field: "a", From: "1", To: "5"}}, ""},
		{"skipped members", `{"version":1,"head":"x","t":1}`, `{"version":2,"head":"y","t":1}`, nil, `"y"`},
		{"head found after a nested head", `{}`, `{"a":{"head":1},"head" : "z"}`, []itsm.Change{{Field: "a", To: `{"head":1}`}}, `"z"`},
		{"whitespace", "{ \"a\" : 1 ,\n\"b\":[ 1 , 2 ] }", `{"a":1,"b":[ 1 , 2 ]}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, head, err := diffJSON([]byte(tt.before), []byte(tt.after), []string{"version", "head"}, "head")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.head, string(head))
		})
	}
	for _, bad := range []string{`[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `"s"`, `{"a":1 "b":2}`, `{"a:1}`} {
		_, _, err := diffJSON(nil, []byte(bad), nil, "")
		assert.ErrorIs(t, err, itsm.ErrInvalid, bad)
	}
}

// FuzzTopLevelMembers holds the splitter to encoding/json: on every valid
// JSON object it finds the same members with the same values, and on any
// input it never panics.
func FuzzTopLevelMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\"}","b":[{"c":{}}],"d":null}`, `{"a" : [1, 2] , "b":"x\\"}`, `[1]`, `{"a":{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := topLevelMembers(data, nil)
		var want map[string]json.RawMessage
		if !json.Valid(data) || json.Unmarshal(data, &want) != nil || bytes.TrimSpace(data)[0] != '{' {
			return // invalid input: only the absence of a panic matters
		}
		require.NoError(t, err, "valid object %q", data)
		got := map[string]json.RawMessage{}
		for _, m := range members {
			var key string
			require.NoError(t, json.Unmarshal(m.key, &key))
			got[key] = json.RawMessage(m.value) // later duplicates win, as in encoding/json
		}
		require.Len(t, got, len(want))
		for k, v := range want {
			var a, b any
			require.NoError(t, json.Unmarshal(v, &a))
			require.NoError(t, json.Unmarshal(got[k], &b), "member %q value %q", k, got[k])
			assert.Equal(t, a, b, "member %q", k)
		}
	})
}
