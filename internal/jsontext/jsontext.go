// Package jsontext writes JSON text byte for byte as encoding/json writes
// it, for the hand-written encoders on Pillars' hot paths (the record codec
// of package storage, the SQLite adapter's event changes), which must store
// exactly what json.Marshal would.
package jsontext

import (
	"encoding/json"
	"sync"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes json.Marshal writes inside a string as they
// are: all but control characters, the quote, the backslash and the HTML
// characters <, > and &.
var htmlSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s quoted as json.Marshal quotes it: HTML characters,
// control characters, U+2028 and U+2029 escaped, each invalid UTF-8 byte
// replaced by U+FFFD. It reports whether s was valid UTF-8, for callers that
// must refuse a string json.Marshal would alter.
func AppendString(b []byte, s string) ([]byte, bool) {
	valid := true
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			valid = false
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), valid
}

// MatchesEncodingJSON reports whether AppendString writes what this build's
// encoding/json writes, on probe strings holding every byte value, the
// escaped runes and invalid UTF-8. It is false, for one, in a build with
// GOEXPERIMENT=jsonv2, whose encoding/json writes invalid UTF-8 as a raw
// U+FFFD. Encoders that must store exactly what json.Marshal would use
// encoding/json when it is false. It is computed once.
var MatchesEncodingJSON = sync.OnceValue(func() bool {
	probes := []string{"\u2028\u2029<>&\"\\/", "é日本🙂\uFFFD", "\xc3", "\xed\xa0\x80", "a\xffb"}
	for c := range 256 {
		probes = append(probes, string([]byte{byte(c)}))
	}
	for _, s := range probes {
		want, err := json.Marshal(s)
		if got, _ := AppendString(nil, s); err != nil || string(got) != string(want) {
			return false
		}
	}
	return true
})
