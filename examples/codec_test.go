package examples

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/strategy"
	"github.com/pillars-itsm/pillars/transition"
)

// TestRecordsEncodeAsEncodingJSON holds storage.Collection's codec to
// encoding/json on every record type of the five pillars: random values
// (nil, empty and full slices and maps, zero and zoned times, HTML
// characters, U+2028, invalid UTF-8, integer extremes) must encode to the
// bytes json.Marshal writes and decode to what json.Unmarshal reads.
func TestRecordsEncodeAsEncodingJSON(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	for _, check := range []func(*testing.T, int){
		codecAgrees[operation.Incident], codecAgrees[operation.Problem], codecAgrees[operation.KnownError],
		codecAgrees[operation.Request], codecAgrees[operation.RequestTask], codecAgrees[operation.Alert],
		codecAgrees[operation.AlertKey], codecAgrees[operation.MonitoringEvent],
		codecAgrees[design.Service], codecAgrees[design.Offering], codecAgrees[design.CatalogItem],
		codecAgrees[design.SLAClock], codecAgrees[design.Contract], codecAgrees[design.Supplier],
		codecAgrees[design.Outage], codecAgrees[design.Watch],
		codecAgrees[transition.CI], codecAgrees[transition.Relationship], codecAgrees[transition.Change],
		codecAgrees[transition.ChangeCI], codecAgrees[transition.ChangeTemplate], codecAgrees[transition.ChangeWindow],
		codecAgrees[transition.CABMeeting], codecAgrees[transition.Baseline], codecAgrees[transition.Release],
		codecAgrees[transition.Deployment], codecAgrees[transition.Article],
		codecAgrees[strategy.Service], codecAgrees[strategy.Objective], codecAgrees[strategy.Demand],
		codecAgrees[strategy.CostModel], codecAgrees[strategy.Budget], codecAgrees[strategy.Customer],
		codecAgrees[improvement.Item],
	} {
		check(t, n)
	}
}

func codecAgrees[T any, P interface {
	*T
	itsm.Entity
}](t *testing.T, n int) {
	typ := reflect.TypeFor[T]()
	t.Run(typ.String(), func(t *testing.T) {
		coll := storage.NewCollection[T, P]("rec")
		r := rand.New(rand.NewPCG(uint64(len(typ.String())), 11))
		for i := range n {
			rec := P(new(T))
			fill(r, reflect.ValueOf(rec).Elem(), 0)
			msg := fmt.Sprintf("%s value %d", typ, i)
			want, err := json.Marshal(rec)
			if err != nil {
				continue // a value encoding/json refuses (a NaN): not the codec's to write
			}
			doc, err := coll.Encode(rec)
			require.NoError(t, err, msg)
			require.Equal(t, string(want), string(doc.Data), msg)

			wantRec := P(new(T))
			require.NoError(t, json.Unmarshal(want, wantRec), msg)
			got, err := coll.Decode(doc)
			require.NoError(t, err, msg)
			// Decode takes the id and version from the document, as a store
			// hands it.
			wantRec.Meta().ID, wantRec.Meta().Version = doc.ID, doc.Version
			require.Equal(t, wantRec, got, msg)
		}
	})
}

var fillStrings = []string{"", "plain", "<b>&amp;</b>", "line\nbreak\t\"quoted\"\\", "\u2028\u2029", "é日本🙂", "bad \xff byte", "\x00\x1f"}

// fill sets v to a random value of its type, recursively.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	if !v.CanSet() && v.Kind() != reflect.Struct {
		return
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		switch r.IntN(4) {
		case 0: // zero
		case 1:
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()))
		case 2:
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), 0).In(time.FixedZone("X", 3600*(r.IntN(25)-12)))))
		default:
			v.Set(reflect.ValueOf(time.Now()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth)
			}
		}
	case reflect.String:
		v.SetString(fillStrings[r.IntN(len(fillStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		switch r.IntN(4) {
		case 0:
		case 1:
			v.SetInt(-1 << (bits - 1))
		case 2:
			v.SetInt(1<<(bits-1) - 1)
		default:
			v.SetInt(r.Int64N(1000) - 500)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.IntN(2) == 0 {
			v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
		}
	case reflect.Float32, reflect.Float64:
		if r.IntN(2) == 0 {
			v.SetFloat(float64(r.IntN(100000)) / 64)
		}
	case reflect.Slice:
		if depth > 3 {
			return
		}
		switch r.IntN(3) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			s := reflect.MakeSlice(v.Type(), 1+r.IntN(3), 3)
			for i := range s.Len() {
				fill(r, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		if depth > 3 || r.IntN(3) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for range r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k, depth+1)
			fill(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if depth > 3 || r.IntN(2) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Interface:
		if r.IntN(2) == 0 {
			v.Set(reflect.ValueOf(fillStrings[r.IntN(len(fillStrings))]))
		}
	}
}
