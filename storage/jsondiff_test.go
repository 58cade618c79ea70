package storage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
)

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		want          []itsm.FieldChange
		head          string // the raw value of after's "head" member
	}{
		{"create", ``, `{"b":1,"a":"x"}`, []itsm.FieldChange{{Field: "a", To: `"x"`}, {Field: "b", To: "1"}}, ""},
		{"same", `{"a":1,"b":[1,{"c":"}"}]}`, `{"a":1,"b":[1,{"c":"}"}]}`, nil, ""},
		{"nested change", `{"a":1,"b":{"c":[1,2]}}`, `{"a":1,"b":{"c":[1,3]}}`, []itsm.FieldChange{{Field: "b", From: `{"c":[1,2]}`, To: `{"c":[1,3]}`}}, ""},
		{"escaped quote in string", `{"a":"say \"hi\", then go"}`, `{"a":"say \"hi\", then run"}`,
			[]itsm.FieldChange{{Field: "a", From: `"say \"hi\", then go"`, To: `"say \"hi\", then run"`}}, ""},
		{"member added and removed", `{"a":1,"gone":true}`, `{"a":1,"new":null}`,
			[]itsm.FieldChange{{Field: "gone", From: "true"}, {Field: "new", To: "null"}}, ""},
		{"reordered members", `{"a":1,"b":2}`, `{"b":2,"a":5}`, []itsm.FieldChange{{Field: "a", From: "1", To: "5"}}, ""},
		{"skipped members", `{"version":1,"head":"x","t":1}`, `{"version":2,"head":"y","t":1}`, nil, `"y"`},
		{"head found after a nested head", `{}`, `{"a":{"head":1},"head" : "z"}`, []itsm.FieldChange{{Field: "a", To: `{"head":1}`}}, `"z"`},
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

// Types for the codec tests: every kind the codec sets itself, and kinds
// it hands to encoding/json.
type (
	CodecInner struct {
		ID string `json:"id"`
		N  int8   `json:"n"`
	}
	codecText  string
	codecProbe struct {
		CodecInner
		S     string    `json:"s"`
		Opt   string    `json:"opt,omitempty"`
		I     int       `json:"i"`
		I16   int16     `json:"i16"`
		B     bool      `json:"b"`
		T     time.Time `json:"t"`
		TZ    time.Time `json:"tz,omitzero"`
		List  []string  `json:"list,omitempty"`
		Notes []struct {
			A string `json:"a"`
		} `json:"notes"`
		M        map[string]int `json:"m"`
		P        *string        `json:"p"`
		Num      json.Number    `json:"num"`
		Text     codecText      `json:"text"`
		Any      any            `json:"any"`
		Untagged string
		F        float64 `json:"f"`
		U        uint8   `json:"u"`
		Skipped  string  `json:"-"`
		hidden   string
	}
)

func (t *codecText) UnmarshalText(b []byte) error { *t = codecText("text:" + string(b)); return nil }

var codecProbeCodec = newCodec(reflect.TypeFor[codecProbe]())

// decodeBoth decodes data with the codec and with encoding/json, and
// checks the members the codec returns against topLevelMembers.
func decodeBoth(t *testing.T, data []byte) (got, want codecProbe, ok bool, wantErr error) {
	t.Helper()
	require.NotNil(t, codecProbeCodec)
	wantErr = json.Unmarshal(data, &want)
	var members []jsonMember
	members, ok = codecProbeCodec.decode(data, reflect.ValueOf(&got).Elem(), nil)
	if ok {
		split, err := topLevelMembers(data, nil)
		require.NoError(t, err)
		require.Equal(t, split, members)
	}
	return got, want, ok, wantErr
}

func TestCodecDecodesAsEncodingJSON(t *testing.T) {
	p := "pointed"
	full := codecProbe{CodecInner: CodecInner{ID: "x-1", N: -7}, S: "Grüße <&> \u2028", Opt: "o", I: -42, I16: 300, B: true,
		T: time.Date(2026, 11, 2, 9, 0, 0, 123456789, time.UTC), TZ: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
		List: []string{"a", "b"}, M: map[string]int{"k": 1}, P: &p, Num: "12.5", Text: "t", Any: []any{1.0, "x"},
		Untagged: "u", F: 1.5, U: 200, Skipped: "never", hidden: "never"}
	full.Notes = append(full.Notes, struct {
		A string `json:"a"`
	}{"note"})
	encoded, err := json.Marshal(full)
	require.NoError(t, err)
	zero, err := json.Marshal(codecProbe{})
	require.NoError(t, err)
	tests := []struct {
		name string
		data string
		fast bool // the codec decodes it (otherwise Decode falls back to encoding/json)
	}{
		{"everything encoding/json writes", string(encoded), true},
		{"the zero value", string(zero), true},
		{"members missing and reordered", `{"s":"a","id":"b","i":1}`, true},
		{"whitespace", " {\n \"s\" : \"a\" ,\t\"i\": 2 } ", true},
		{"null scalars keep their value", `{"s":null,"i":null,"b":null,"t":null,"p":null}`, true},
		{"escaped string and invalid UTF-8", "{\"s\":\"a\\n\\u00e9\\ud83d\\ude00\",\"id\":\"\xff\xfe\"}", true},
		{"duplicate members: the last wins, maps merge", `{"s":"a","s":"b","m":{"x":1},"m":{"y":2}}`, true},
		{"negative zero and extremes", `{"i":-0,"i16":-32768,"n":127}`, true},
		{"unknown member, ignored as encoding/json does", `{"s":"a","other":{"deep":[1,2]}}`, true},
		{"member of another case", `{"S":"a"}`, false},
		{"escaped member name", `{"\u0073":"a"}`, false},
		{"skipped and unexported members, ignored", `{"Skipped":"x","hidden":"y"}`, true},
		{"member folding to a field's name (ſ to s)", `{"ſ":"a"}`, false},
		{"int overflow", `{"n":128}`, false},
		{"leading zero", `{"i":01}`, false},
		{"fraction into int", `{"i":1.0}`, false},
		{"number into string", `{"s":1}`, false},
		{"string into bool", `{"b":"true"}`, false},
		{"bad time", `{"t":"yesterday"}`, false},
		{"malformed nested value", `{"list":["a",}`, false},
		{"trailing data", `{"s":"a"}x`, false},
		{"not an object", `null`, false},
		{"control character in a string", "{\"s\":\"a\tb\"}", false},
		{"nested to encoding/json's limit", `{"any":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`, true},
		{"nested past encoding/json's limit", `{"any":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, false},
		{"brackets in a string do not nest", `{"any":"` + strings.Repeat("[", 10001) + `"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want, ok, wantErr := decodeBoth(t, []byte(tt.data))
			require.Equal(t, tt.fast, ok, "codec accepted %q: %v (encoding/json: %v)", tt.data, ok, wantErr)
			if ok {
				require.NoError(t, wantErr)
				assert.Equal(t, want, got)
			}
		})
	}
}

func TestNewCodecRefusesWhatItCannotFollow(t *testing.T) {
	type (
		quoted struct {
			N int `json:"n,string"`
		}
		conflict struct {
			CodecInner
			Other string `json:"id"`
		}
		custom    struct{ codecText }
		unexpEmb  struct{ codecInner2 }
		pointerEm struct{ *CodecInner }
		oddName   struct {
			A string `json:"a-b"`
		}
	)
	for name, typ := range map[string]reflect.Type{
		"string option":               reflect.TypeFor[quoted](),
		"conflicting names":           reflect.TypeFor[conflict](),
		"promoted UnmarshalText":      reflect.TypeFor[custom](),
		"unexported embedded struct":  reflect.TypeFor[unexpEmb](),
		"embedded pointer":            reflect.TypeFor[pointerEm](),
		"name needing encoding rules": reflect.TypeFor[oddName](),
		"not a struct":                reflect.TypeFor[map[string]string](),
	} {
		assert.Nil(t, newCodec(typ), name)
	}
	assert.NotNil(t, newCodec(reflect.TypeFor[codecProbe]()))
}

type codecInner2 struct {
	X string `json:"x"`
}

// FuzzCodecDecode holds the codec to encoding/json on arbitrary input:
// whatever it accepts decodes to what json.Unmarshal gives, without error.
func FuzzCodecDecode(f *testing.F) {
	full, _ := json.Marshal(codecProbe{S: "s", I: 3, B: true, T: time.Unix(1700000000, 5).UTC(), List: []string{"q"}, M: map[string]int{"a": 1}})
	for _, s := range []string{string(full), `{}`, `{"i":-12,"n":-128,"s":"\u00e9","t":"2026-01-02T03:04:05+01:00"}`,
		`{"notes":[{"a":"x"}],"any":{"k":[1,null]},"num":1e3,"text":"t","p":"p","u":255,"f":-0.5}`, `{"s":"a",}`, strings.Repeat(`{"s":`, 3)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, want, ok, wantErr := decodeBoth(t, data)
		if !ok {
			return
		}
		require.NoError(t, wantErr, "codec accepted %q", data)
		require.Equal(t, want, got, "input %q", data)
	})
}

// diffJSONReference is diffJSON as first written, one allocation per
// string: the reference the one-string version must match.
func diffJSONReference(before, after []byte, skip []string, find string) ([]itsm.FieldChange, []byte, error) {
	am, err := topLevelMembers(after, nil)
	if err != nil {
		return nil, nil, err
	}
	var bm []jsonMember
	if len(before) > 0 {
		if bm, err = topLevelMembers(before, nil); err != nil {
			return nil, nil, err
		}
	}
	var found []byte
	for _, a := range am {
		if len(a.key) == len(find)+2 && string(a.key[1:len(a.key)-1]) == find {
			found = a.value
			break
		}
	}
	var out []itsm.FieldChange
	add := func(key, from, to []byte) {
		name := string(bytes.Trim(key, `"`))
		for _, s := range skip {
			if s == name {
				return
			}
		}
		out = append(out, itsm.FieldChange{Field: name, From: string(from), To: string(to)})
	}
	used := make([]bool, len(bm))
	for ai, a := range am {
		bi := -1
		if ai < len(bm) && !used[ai] && bytes.Equal(bm[ai].key, a.key) {
			bi = ai
		} else {
			for j := range bm {
				if !used[j] && bytes.Equal(bm[j].key, a.key) {
					bi = j
					break
				}
			}
		}
		if bi < 0 {
			add(a.key, nil, a.value)
			continue
		}
		used[bi] = true
		if !bytes.Equal(bm[bi].value, a.value) {
			add(a.key, bm[bi].value, a.value)
		}
	}
	for j, b := range bm {
		if !used[j] {
			add(b.key, b.value, nil)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Field < out[j-1].Field; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, found, nil
}

// FuzzDiffJSON holds diffJSON to its reference on arbitrary pairs of
// documents: the same changes in the same order, the same head value, the
// same refusals.
func FuzzDiffJSON(f *testing.F) {
	inc := `{"id":"x","version":3,"head":"h","state":"new","short_description":"VPN","impact":2,"notes":[{"a":"}"}]}`
	for _, p := range [][2]string{
		{``, inc},
		{inc, `{"id":"x","version":4,"head":"k","state":"on_hold","short_description":"VPN","impact":2,"hold_reason":"a"}`},
		{`{"a":1,"b":2,"a":3}`, `{"b":2,"a":5,"\"q\"":1}`},
		{`{"z":1}`, `{"y":1,"x":[},"w":"\\"}`},
		{`[1]`, `{}`},
	} {
		f.Add([]byte(p[0]), []byte(p[1]))
	}
	// More members than the fast path's stack arrays hold.
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 80 {
		if i > 0 {
			wide.WriteString(",")
		}
		wide.WriteString(`"f` + strings.Repeat("x", i) + `":` + string(rune('0'+i%10)))
	}
	wide.WriteString("}")
	f.Add([]byte(wide.String()), []byte(inc))
	f.Add([]byte(inc), []byte(wide.String()))
	f.Fuzz(func(t *testing.T, before, after []byte) {
		got, gotHead, gotErr := diffJSON(before, after, metaFields, "head")
		want, wantHead, wantErr := diffJSONReference(before, after, metaFields, "head")
		require.Equal(t, wantErr, gotErr)
		require.Equal(t, want, got)
		require.Equal(t, wantHead, gotHead)
	})
}

// encodeBoth encodes v with the codec and with encoding/json, and checks
// the member spans the codec records against topLevelMembers.
func encodeBoth(t *testing.T, v *codecProbe) (got []byte, ok bool, want []byte, wantErr error) {
	t.Helper()
	require.True(t, codecProbeCodec.encodable)
	want, wantErr = json.Marshal(v)
	const prefix = "xx" // spans are relative to where the encoding starts
	var spans []memberSpan
	got, spans, ok = codecProbeCodec.encode([]byte(prefix), reflect.ValueOf(v).Elem(), nil)
	if ok {
		got = got[len(prefix):]
		split, err := topLevelMembers(got, nil)
		require.NoError(t, err)
		require.Len(t, spans, len(split))
		for i, sp := range spans {
			require.Equal(t, string(split[i].key), string(got[sp.key:sp.value]))
			require.Equal(t, byte(':'), got[sp.value])
			require.Equal(t, string(split[i].value), string(got[sp.value+1:sp.end]))
		}
	}
	return got, ok, want, wantErr
}

func TestCodecEncodesAsEncodingJSON(t *testing.T) {
	if !jsontext.MatchesEncodingJSON() {
		t.Skip("this build's encoding/json quotes strings otherwise (GOEXPERIMENT=jsonv2): records are encoded by it, not by the codec")
	}
	p := "p<"
	at := time.Date(2026, 11, 2, 9, 0, 0, 120000000, time.UTC)
	tests := []struct {
		name string
		v    codecProbe
		fast bool // false: encoding/json refuses it, so must the codec
	}{
		{"zero value", codecProbe{}, true},
		{"every member", codecProbe{CodecInner: CodecInner{ID: "id", N: -128}, S: "s", Opt: "o", I: 1 << 40, I16: -1, B: true,
			T: at, TZ: at.In(time.FixedZone("", -5*3600-30*60)), List: []string{"a"}, M: map[string]int{"b": 2, "a": 1}, P: &p,
			Num: "1e3", Text: "t", Any: map[string]any{"x": []any{1, "y"}}, Untagged: "u", F: 0.1, U: 7, Skipped: "no", hidden: "no"}, true},
		{"escapes", codecProbe{S: "\"\\/\b\f\n\r\t\x00\x1f\x7f <a href='x'>&amp;</a> \u2028\u2029 é 😀 \xff\xc3 end"}, true},
		{"empty non-nil list omitted", codecProbe{List: []string{}}, true},
		{"zero time kept, zero omitzero time omitted", codecProbe{T: time.Time{}, TZ: time.Time{}}, true},
		{"time with a local zone", codecProbe{T: at.In(time.FixedZone("", 9*3600))}, true},
		{"year beyond 9999", codecProbe{T: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		{"invalid number in a member encoding/json writes", codecProbe{Num: "12x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, want, wantErr := encodeBoth(t, &tt.v)
			require.Equal(t, tt.fast, ok)
			if tt.fast {
				require.NoError(t, wantErr)
				assert.Equal(t, string(want), string(got))
			} else {
				require.Error(t, wantErr)
			}
		})
	}
}

func TestCodecEncodeDeclinesRecordsWithMarshalers(t *testing.T) {
	type withZeroer struct {
		Z codecZeroer `json:"z,omitzero"`
	}
	assert.False(t, newCodec(reflect.TypeFor[codecMarshals]()).encodable, "a record with its own MarshalJSON")
	assert.False(t, newCodec(reflect.TypeFor[withZeroer]()).encodable, "omitzero with the member's own IsZero")
	assert.True(t, newCodec(reflect.TypeFor[codecProbe]()).encodable)
}

type (
	codecMarshals struct {
		A string `json:"a"`
	}
	codecZeroer struct{ N int }
)

func (codecMarshals) MarshalJSON() ([]byte, error) { return []byte(`{}`), nil }
func (z codecZeroer) IsZero() bool                 { return z.N == 1 }

// FuzzCodecEncode holds the codec's encoding to json.Marshal byte for byte
// on records built from arbitrary strings, numbers and times, and its
// refusals to encoding/json's.
func FuzzCodecEncode(f *testing.F) {
	if !jsontext.MatchesEncodingJSON() {
		f.Skip("this build's encoding/json quotes strings otherwise (GOEXPERIMENT=jsonv2): records are encoded by it, not by the codec")
	}
	f.Add("plain", "<&>\u2028\xff", int64(-5), true, int64(1700000000123456), int32(3600), "12.5", 2.5)
	f.Add("", "", int64(0), false, int64(0), int32(0), "", 0.0)
	f.Add("\x00\x1f\\\"", "é😀", int64(1<<62), true, int64(-62135596800000000), int32(-86399), "x", -1e300)
	f.Fuzz(func(t *testing.T, s1, s2 string, n int64, b bool, micros int64, offset int32, num string, fl float64) {
		tz := time.FixedZone("", int(offset%(48*3600)))
		v := codecProbe{CodecInner: CodecInner{ID: s2, N: int8(n)}, S: s1, Opt: s2, I: int(n), I16: int16(n >> 3), B: b,
			T: time.UnixMicro(micros).In(tz), List: []string{s1, s2}, Num: json.Number(num), Text: codecText(s1), Untagged: s2,
			F: fl, U: uint8(n), Any: s1}
		if b {
			v.TZ = v.T.UTC()
			v.M = map[string]int{s1: 1, s2: 2}
			v.P = &s2
		}
		got, ok, want, wantErr := encodeBoth(t, &v)
		if wantErr != nil {
			require.False(t, ok, "encoding/json refuses (%v) what the codec encoded: %q", wantErr, got)
			return
		}
		require.True(t, ok)
		require.Equal(t, string(want), string(got))
	})
}

func TestMarkAppended(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		field    string
		wantTo   string
		appended bool
	}{
		{"one more entry", `[{"t":"a"}]`, `[{"t":"a"},{"t":"b"}]`, "notes", `[{"t":"b"}]`, true},
		{"two more entries", `[1,2]`, `[1,2,3,4]`, "notes", `[3,4]`, true},
		{"the first entry", ``, `[{"t":"a"}]`, "notes", `[{"t":"a"}]`, true},
		{"after an empty array", `[]`, `[{"t":"a"}]`, "notes", `[{"t":"a"}]`, true},
		{"after null", `null`, `["x"]`, "notes", `["x"]`, true},
		{"an entry edited", `[{"t":"a"}]`, `[{"t":"A"},{"t":"b"}]`, "notes", `[{"t":"A"},{"t":"b"}]`, false},
		{"a number grown, not appended", `[1]`, `[12]`, "notes", `[12]`, false},
		{"an entry removed", `[1,2]`, `[1]`, "notes", `[1]`, false},
		{"emptied", `[1]`, `[]`, "notes", `[]`, false},
		{"not a journal member", `[1]`, `[1,2]`, "tags", `[1,2]`, false},
		{"not an array", `"a"`, `"ab"`, "notes", `"ab"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := []itsm.FieldChange{{Field: "x", From: "1", To: "2"}, {Field: tt.field, From: tt.from, To: tt.to}}
			markAppended(cs, []string{"notes", "comments"})
			assert.Equal(t, itsm.FieldChange{Field: "x", From: "1", To: "2"}, cs[0], "other changes untouched")
			assert.Equal(t, tt.wantTo, cs[1].To)
			assert.Equal(t, tt.appended, cs[1].Appended)
			if tt.appended {
				assert.Empty(t, cs[1].From)
			} else {
				assert.Equal(t, tt.from, cs[1].From)
			}
		})
	}
}

// FuzzMarkAppended: whatever two arrays a journal member goes between, an
// Appended change's elements are exactly what the new array adds to the
// old one.
func FuzzMarkAppended(f *testing.F) {
	f.Add(`[{"t":"a"}]`, `[{"t":"a"},{"t":"b"}]`)
	f.Add(`[1]`, `[12]`)
	f.Add(`["a,b"]`, `["a,b","c"]`)
	f.Fuzz(func(t *testing.T, from, to string) {
		var before, after []json.RawMessage
		if json.Unmarshal([]byte(from), &before) != nil || json.Unmarshal([]byte(to), &after) != nil || !json.Valid([]byte(to)) {
			return
		}
		// Compact, as encoding/json writes them.
		from, to = string(mustMarshal(t, before)), string(mustMarshal(t, after))
		cs := []itsm.FieldChange{{Field: "notes", From: from, To: to}}
		markAppended(cs, []string{"notes"})
		if !cs[0].Appended {
			return
		}
		var added []json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(cs[0].To), &added), "the appended part is a JSON array")
		require.Equal(t, to, string(mustMarshal(t, append(append([]json.RawMessage{}, before...), added...))), "old then appended is the new array")
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
