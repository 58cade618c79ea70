package transition_test

import (
	"context"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

func newKB(t testing.TB) (*env, *transition.Knowledge) {
	e := newEnv(t)
	kb, err := transition.NewKnowledge(context.Background(), e.store, transition.KnowledgeConfig{Clock: e.clock})
	require.NoError(t, err)
	return e, kb
}

func publish(t testing.TB, kb *transition.Knowledge, title, body string) *transition.Article {
	t.Helper()
	a := &transition.Article{Title: title, Body: body, OwnedBy: "ann"}
	require.NoError(t, kb.Records().Create(as(agent), a, storage.Command{}))
	_, err := kb.Records().Fire(as(agent), a.ID, transition.ArticleEventSubmit, storage.Command{}, nil)
	require.NoError(t, err)
	got, err := kb.Records().Fire(as(alice), a.ID, transition.ArticleEventPublish, storage.Command{}, nil)
	require.NoError(t, err)
	return got
}

func TestArticleLifecycle(t *testing.T) {
	e, kb := newKB(t)
	a := &transition.Article{Title: "Reset a VPN token", OwnedBy: "ann"}
	require.NoError(t, kb.Records().Create(as(agent), a, storage.Command{}))
	assert.Equal(t, "KB0000001", a.Number)
	_, err := kb.Records().Fire(as(agent), a.ID, transition.ArticleEventSubmit, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "no body")
	_, err = kb.Records().Fire(as(agent), a.ID, transition.ArticleEventSubmit, storage.Command{}, func(a *transition.Article) error {
		a.Body = "Open the portal, choose Tokens, then Reset."
		a.IncidentIDs = []string{"inc-7"}
		return nil
	})
	require.NoError(t, err)
	_, err = kb.Records().Fire(itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}}), a.ID, transition.ArticleEventPublish, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "the owner does not publish their own article")
	got, err := kb.Records().Fire(as(alice), a.ID, transition.ArticleEventPublish, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.ArticleVersion)
	assert.Equal(t, t0.AddDate(1, 0, 0), got.ReviewBy)
	_, err = kb.Records().Fire(as(agent), a.ID, transition.ArticleEventRevise, storage.Command{}, nil)
	require.NoError(t, err)
	_, err = kb.Records().Fire(as(agent), a.ID, transition.ArticleEventSubmit, storage.Command{}, nil)
	require.NoError(t, err)
	got, err = kb.Records().Fire(as(alice), a.ID, transition.ArticleEventPublish, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.ArticleVersion)
	v1, err := kb.Published(as(admin), a.ID, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v1.ArticleVersion)
	assert.Equal(t, "Open the portal, choose Tokens, then Reset.", v1.Body)
	_, err = kb.Published(as(admin), a.ID, 3)
	require.ErrorIs(t, err, itsm.ErrNotFound)

	e.clock.Advance(400 * 24 * time.Hour)
	due, err := kb.DueForReview(as(admin), e.clock.Now(), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, a.ID, due[0].ID)
	require.ErrorIs(t, kb.Records().Create(as(agent), &transition.Article{Title: " "}, storage.Command{}), itsm.ErrInvalid)
}

func TestKnowledgeSearch(t *testing.T) {
	e, kb := newKB(t)
	vpn := publish(t, kb, "Reset a VPN token", "Open the self-service portal and reset the token.")
	printer := publish(t, kb, "Printer jams on floor 3", "Open tray 2, remove the paper, restart the printer. VPN is not involved.")
	mail := publish(t, kb, "Mailbox full", "Archive old mail to free space in the mailbox.")
	draft := &transition.Article{Title: "VPN secrets", Body: "draft only", OwnedBy: "ann"}
	require.NoError(t, kb.Records().Create(as(agent), draft, storage.Command{}))

	idx, err := transition.NewSearchIndex(context.Background(), e.store, transition.SearchIndexConfig{})
	require.NoError(t, err)
	hits, err := idx.Search("vpn", 10)
	require.NoError(t, err)
	require.Len(t, hits, 2, "drafts are not searchable")
	assert.Equal(t, vpn.Number, hits[0].Number, "a title match ranks first")
	assert.Equal(t, printer.Number, hits[1].Number)

	hits, err = idx.Search("printer ja", 10) // the last word is a prefix
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, printer.ID, hits[0].ID)
	hits, err = idx.Search("MAILB", 10)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, mail.Number, hits[0].Number)

	// Retiring removes an article at the next refresh; publishing adds one.
	_, err = kb.Records().Fire(as(agent), vpn.ID, transition.ArticleEventRetire, storage.Command{}, nil)
	require.NoError(t, err)
	_, err = idx.Refresh(as(admin))
	require.NoError(t, err)
	hits, err = idx.Search("vpn token", 10)
	require.NoError(t, err)
	assert.Empty(t, hits)

	for _, q := range []string{"", "  ,. ", "x"} {
		_, err := idx.Search(q, 0)
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	}
	_, err = idx.Search(" .,", 5)
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// FuzzSearch throws arbitrary queries at the index: no panic, results
// within the limit, ranked best first.
func FuzzSearch(f *testing.F) {
	e, kb := newKB(f)
	publish(f, kb, "Reset a VPN token", "Open the self-service portal and reset the token.")
	publish(f, kb, "Écran noir après mise à jour", "Redémarrer le poste; vérifier le pilote graphique.")
	idx, err := transition.NewSearchIndex(context.Background(), e.store, transition.SearchIndexConfig{})
	require.NoError(f, err)
	for _, s := range []string{"vpn", "rés", "écran", "a b c d", "\xff\xfe", "token reset portal"} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, q string, limit int) {
		hits, err := idx.Search(q, limit)
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid)
			return
		}
		require.LessOrEqual(t, len(hits), limit)
		for i := 1; i < len(hits); i++ {
			require.GreaterOrEqual(t, hits[i-1].Score, hits[i].Score)
		}
		for _, w := range transition.Tokenize(q) {
			require.True(t, utf8.ValidString(w) || !utf8.ValidString(q))
		}
	})
}
