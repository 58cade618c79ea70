package postgres

import (
	"testing"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

func TestTextIndexConformance(t *testing.T) {
	storagetest.TextIndex(t, func(t *testing.T) storage.TextIndexer { return newTestStore(t) })
}
