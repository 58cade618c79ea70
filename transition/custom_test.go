package transition_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

func transitionFields(t testing.TB) *storage.Dictionary {
	t.Helper()
	d, err := storage.ParseDictionary([]byte(`{"kinds": {
	  "change": {"fields": [
	    {"name": "downtime_minutes", "type": "integer", "min": "0", "indexed": true},
	    {"name": "vendor", "type": "enum", "values": ["acme", "globex"]},
	    {"name": "backout_owner", "type": "user", "internal": true}]},
	  "ci": {"fields": [{"name": "asset_tag", "type": "string", "pattern": "AT-[0-9]+", "required": true, "indexed": true}]}}}`))
	require.NoError(t, err)
	return d
}

// A change checks its custom fields on create, Update and Fire, as an
// incident does, and its events name them.
func TestChangeCustomFields(t *testing.T) {
	dict := transitionFields(t)
	cases := []struct {
		name  string
		field string
		write func(e *changeEnv, id string) error
	}{
		{"create, wrong type", "custom.downtime_minutes", func(e *changeEnv, _ string) error {
			c := &transition.Change{ShortDescription: "patch", Type: transition.TypeNormal}
			c.Custom.SetString("downtime_minutes", "lots")
			return e.changes.Create(as(rita), c, storage.Command{})
		}},
		{"update, enum value not listed", "custom.vendor", func(e *changeEnv, id string) error {
			_, err := e.changes.Update(as(rita), id, storage.Command{}, func(c *transition.Change) error {
				c.Custom.SetString("vendor", "initech")
				return nil
			})
			return err
		}},
		{"fire, out of range", "custom.downtime_minutes", func(e *changeEnv, id string) error {
			_, err := e.changes.Fire(as(rita), id, transition.ChangeEventAssess, storage.Command{}, func(c *transition.Change) error {
				c.Custom.SetInt("downtime_minutes", -1)
				return nil
			})
			return err
		}},
		{"generic runner, unknown field", "custom.colour", func(e *changeEnv, id string) error {
			_, err := e.changes.Records().Change(as(rita), id, storage.Command{}, func(c *transition.Change) error {
				c.Custom.SetString("colour", "red")
				return nil
			})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newChangeEnv(t, func(cfg *transition.ChangesConfig) { cfg.Dictionary = dict })
			ch := e.normal(t, e.db)
			before := takeSnapshot(t, e.store, changeKinds...)
			err := c.write(e, ch.ID)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, ve.Fields, c.field)
			assert.Equal(t, before, takeSnapshot(t, e.store, changeKinds...), "nothing written")
		})
	}

	e := newChangeEnv(t, func(cfg *transition.ChangesConfig) { cfg.Dictionary = dict })
	ch := e.normal(t, e.db)
	got, err := e.changes.Update(as(rita), ch.ID, storage.Command{}, func(c *transition.Change) error {
		c.Custom.SetInt("downtime_minutes", 15)
		c.Custom.SetString("vendor", "acme")
		c.Custom.SetString("backout_owner", "ivan")
		return nil
	})
	require.NoError(t, err)
	v, _ := got.Custom.Str("vendor")
	assert.Equal(t, "acme", v)
	evs, err := e.changes.Records().History(as(rita), ch.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	assert.Equal(t, []itsm.FieldChange{{Field: "custom.backout_owner", To: `"ivan"`}, {Field: "custom.downtime_minutes", To: "15"},
		{Field: "custom.vendor", To: `"acme"`}}, last.Changes)
	require.NoError(t, e.changes.Records().Verify(as(rita), ch.ID))
	found, _, err := e.changes.Records().Query(as(admin), storage.Query{Filters: []storage.Filter{storage.Lte("downtime_minutes", storage.Int(30))}})
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, ch.ID, found[0].ID)
}

func TestCICustomFields(t *testing.T) {
	ctx := context.Background()
	cmdb, err := transition.NewCMDB(ctx, memory.New(), transition.CMDBConfig{Dictionary: transitionFields(t)})
	require.NoError(t, err)
	err = cmdb.CreateCI(as(agent), &transition.CI{Name: "web1", Class: "server"}, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "is required", ve.Fields["custom.asset_tag"])
	ci := &transition.CI{Name: "web1", Class: "server"}
	ci.Custom.SetString("asset_tag", "AT-9")
	require.NoError(t, cmdb.CreateCI(as(agent), ci, storage.Command{}))
	_, err = cmdb.UpdateCI(as(agent), ci.ID, storage.Command{}, func(c *transition.CI) error {
		c.Custom.SetString("asset_tag", "nine")
		return nil
	})
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.asset_tag")
}
