package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TextIndex checks a storage.TextIndexer against the contract its doc
// comment states: upserts, removal, every term required and the last a
// prefix, internal text only when asked, kinds and tenants kept apart,
// pages that do not overlap, the title ranking above the body, words that
// are engine keywords (and, or, not, near) found as words, and bad queries
// refused. newIndex returns an empty index for one test.
func TextIndex(t *testing.T, newIndex func(t *testing.T) storage.TextIndexer) {
	ctx := context.Background()
	acme := itsm.WithTenant(ctx, "acme")
	id := func(n int) string {
		return "00000000-0000-7000-8000-" + string(rune('0'+n/10)) + string(rune('0'+n%10)) + "0000000000"
	}
	entries := []storage.TextEntry{
		{Kind: "incident", ID: id(1), Number: "INC0000001", Title: "VPN drops every hour", Public: "since the update", Internal: "caller is a VIP", Owner: "carl", Group: "network"},
		{Kind: "incident", ID: id(2), Number: "INC0000002", Title: "Printer jams", Public: "the vpn is fine, the printer is not", Owner: "cora", Group: ""},
		{Kind: "problem", ID: id(3), Number: "PRB0000001", Title: "VPN concentrator overload"},
		{Kind: "incident", ID: id(4), Number: "INC0000003", Title: "near or and not", Public: "keywords as words"},
	}
	search := func(t *testing.T, ctx context.Context, idx storage.TextIndexer, q storage.TextQuery) []string {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 10
		}
		if q.Kinds == nil {
			q.Kinds = []string{"incident", "problem"}
		}
		hits, err := idx.SearchText(ctx, q)
		require.NoError(t, err)
		var out []string
		for _, h := range hits {
			out = append(out, h.ID)
		}
		return out
	}
	setup := func(t *testing.T) storage.TextIndexer {
		idx := newIndex(t)
		require.NoError(t, idx.IndexText(ctx, entries))
		return idx
	}

	t.Run("Matching", func(t *testing.T) {
		idx := setup(t)
		tests := []struct {
			name string
			q    storage.TextQuery
			want []string
		}{
			{"title ranks above body", storage.TextQuery{Terms: []string{"vpn"}}, []string{id(1), id(3), id(2)}},
			{"every term", storage.TextQuery{Terms: []string{"vpn", "hour"}}, []string{id(1)}},
			{"last term is a prefix", storage.TextQuery{Terms: []string{"concen"}}, []string{id(3)}},
			{"only the last term is a prefix", storage.TextQuery{Terms: []string{"concen", "overload"}}, nil},
			{"internal text hidden", storage.TextQuery{Terms: []string{"vip"}}, nil},
			{"internal text asked for", storage.TextQuery{Terms: []string{"vip"}, Internal: true}, []string{id(1)}},
			{"kinds", storage.TextQuery{Terms: []string{"vpn"}, Kinds: []string{"problem"}}, []string{id(3)}},
			{"keywords are words", storage.TextQuery{Terms: []string{"near", "or", "and", "not"}}, []string{id(4)}},
			{"another tenant", storage.TextQuery{Terms: []string{"vpn"}}, nil},
			{"owner scope", storage.TextQuery{Terms: []string{"vpn"}, Kinds: []string{"incident"},
				Scopes: []storage.TextScope{{Kind: "incident", Field: "owner", Values: []string{"cora"}}}}, []string{id(2)}},
			{"group scope with the unassigned", storage.TextQuery{Terms: []string{"vpn"}, Kinds: []string{"incident"},
				Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"database", ""}}}}, []string{id(2)}},
			{"a scope limits its kind only", storage.TextQuery{Terms: []string{"vpn"},
				Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"database"}}}}, []string{id(3)}},
		}
		for _, tt := range tests {
			c := ctx
			if tt.name == "another tenant" {
				c = acme
			}
			got := search(t, c, idx, tt.q)
			if tt.name == "title ranks above body" {
				require.Len(t, got, 3, tt.name)
				assert.Equal(t, id(2), got[2], "a body match ranks below the title matches")
				continue
			}
			assert.Equal(t, tt.want, got, tt.name)
		}
	})

	t.Run("UpsertAndRemove", func(t *testing.T) {
		idx := setup(t)
		require.NoError(t, idx.IndexText(ctx, []storage.TextEntry{{Kind: "incident", ID: id(1), Title: "Mailbox full"}}))
		assert.Equal(t, []string{id(3), id(2)}, sortedTail(search(t, ctx, idx, storage.TextQuery{Terms: []string{"vpn"}}), id(3)))
		assert.Equal(t, []string{id(1)}, search(t, ctx, idx, storage.TextQuery{Terms: []string{"mailbox"}}))
		require.NoError(t, idx.RemoveText(ctx, "incident", []string{id(1), id(9)}))
		assert.Nil(t, search(t, ctx, idx, storage.TextQuery{Terms: []string{"mailbox"}}))
		require.NoError(t, idx.IndexText(acme, []storage.TextEntry{{Kind: "incident", ID: id(1), Title: "Mailbox full"}}))
		assert.Nil(t, search(t, ctx, idx, storage.TextQuery{Terms: []string{"mailbox"}}), "acme's entry is not the default tenant's")
		assert.Equal(t, []string{id(1)}, search(t, acme, idx, storage.TextQuery{Terms: []string{"mailbox"}}))
	})

	t.Run("Pages", func(t *testing.T) {
		idx := newIndex(t)
		var many []storage.TextEntry
		for i := range 25 {
			many = append(many, storage.TextEntry{Kind: "incident", ID: id(i + 10), Title: "disk full"})
		}
		require.NoError(t, idx.IndexText(ctx, many))
		var all []string
		for off := 0; ; off += 10 {
			page := search(t, ctx, idx, storage.TextQuery{Terms: []string{"disk"}, Offset: off, Limit: 10})
			all = append(all, page...)
			if len(page) < 10 {
				break
			}
		}
		assert.Len(t, all, 25)
		slices.Sort(all)
		assert.Len(t, slices.Compact(all), 25, "no entry on two pages")
	})

	t.Run("BadInput", func(t *testing.T) {
		idx := setup(t)
		for _, q := range []storage.TextQuery{
			{Kinds: []string{"incident"}, Terms: []string{`vpn" OR "x`}, Limit: 1},
			{Kinds: []string{"incident"}, Terms: []string{"vpn*"}, Limit: 1},
			{Kinds: []string{"incident"}, Terms: []string{"a:b"}, Limit: 1},
			{Kinds: []string{"incident"}, Terms: []string{"VPN"}, Limit: 1},
			{Kinds: []string{"incident"}, Terms: nil, Limit: 1},
			{Kinds: []string{"Bad Kind"}, Terms: []string{"vpn"}, Limit: 1},
			{Kinds: []string{"incident"}, Terms: []string{"vpn"}, Limit: 0},
			{Kinds: []string{"incident"}, Terms: []string{"vpn"}, Limit: 1, Offset: -1},
			{Kinds: []string{"incident"}, Terms: []string{"vpn"}, Limit: 1, Scopes: []storage.TextScope{{Kind: "problem", Field: "owner", Values: []string{"x"}}}},
			{Kinds: []string{"incident"}, Terms: []string{"vpn"}, Limit: 1, Scopes: []storage.TextScope{{Kind: "incident", Field: "state", Values: []string{"x"}}}},
			{Kinds: []string{"incident"}, Terms: []string{"vpn"}, Limit: 1, Scopes: []storage.TextScope{{Kind: "incident", Field: "owner"}}},
		} {
			_, err := idx.SearchText(ctx, q)
			assert.ErrorIs(t, err, itsm.ErrInvalid, "%+v", q)
		}
		err := idx.IndexText(ctx, []storage.TextEntry{{Kind: "incident", ID: id(5), Title: "ok"}, {Kind: "incident", ID: id(6), Title: "nul\x00"}})
		assert.ErrorIs(t, err, itsm.ErrInvalid)
		assert.Nil(t, search(t, ctx, idx, storage.TextQuery{Terms: []string{"ok"}}), "a refused batch writes nothing")
	})
}

// sortedTail returns ids with first moved to the front (engines may rank
// equal scores either way; this keeps the assertion about membership).
func sortedTail(ids []string, first string) []string {
	if i := slices.Index(ids, first); i > 0 {
		ids = append([]string{first}, slices.Delete(slices.Clone(ids), i, i+1)...)
	}
	return ids
}
