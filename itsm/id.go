package itsm

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// NewID returns a new time-ordered record id (UUID version 7, text form).
// IDs sort by creation time, which keeps index pages of new records together.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// uuid.NewV7 fails only when the system's random source does; fall
		// back to a v4, which is still unique.
		return uuid.NewString()
	}
	return id.String()
}

// ValidID reports whether s is a well-formed record id.
func ValidID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// FormatNumber renders a human number from a prefix and a sequence value,
// zero-padded to seven digits as service desks do: FormatNumber("INC", 1042)
// is "INC0001042". Larger values simply grow wider.
func FormatNumber(prefix string, n int64) string {
	return fmt.Sprintf("%s%07d", prefix, n)
}

// ParseNumber splits a human number into its prefix and sequence value. It
// returns an error matching ErrInvalid when s does not end in digits.
func ParseNumber(s string) (prefix string, n int64, err error) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || i == 0 || strings.TrimSpace(s) != s {
		return "", 0, Invalidf("number %q: want a prefix followed by digits", s)
	}
	if len(s)-i > 18 {
		return "", 0, Invalidf("number %q: too many digits", s)
	}
	for _, c := range s[i:] {
		n = n*10 + int64(c-'0')
	}
	return s[:i], n, nil
}
