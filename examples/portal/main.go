// Command portal is a small internal service-desk portal built on Pillars
// with net/http and html/template: callers raise incidents and order from
// the catalogue, agents work their queues, the change manager approves
// changes on the change calendar, and a dashboard shows the KPIs computed from
// the event log with their charts.
//
//	go run ./examples/portal                      # in-memory store, http://127.0.0.1:8080
//	go run ./examples/portal -sqlite /tmp/desk.db # embedded persistent store
//	go run ./examples/portal -dsn postgres://...  # PostgreSQL (or PORTAL_DSN)
//
// Log in with the user picker (a stand-in for the host's single sign-on);
// roles are enforced by the kernel's authorizer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/postgres"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dsn := flag.String("dsn", os.Getenv("PORTAL_DSN"), "PostgreSQL DSN (default $PORTAL_DSN); empty uses the embedded store")
	schema := flag.String("schema", "portal", "PostgreSQL schema")
	file := flag.String("sqlite", "", "SQLite database file; empty (and no DSN) keeps everything in memory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *dsn, *schema, *file); err != nil {
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

// openStore opens the store the flags choose.
func openStore(ctx context.Context, dsn, schema, file string) (storage.Backend, func() error, string, error) {
	switch {
	case dsn != "":
		st, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
		if err != nil {
			return nil, nil, "", err
		}
		return st, st.Close, "PostgreSQL schema " + schema, nil
	case file != "":
		st, err := sqlite.Open(ctx, file)
		if err != nil {
			return nil, nil, "", err
		}
		return st, st.Close, "SQLite " + file, nil
	}
	st := memory.New()
	return st, st.Close, "the in-memory store", nil
}

func run(ctx context.Context, addr, dsn, schema, file string) error {
	store, closeStore, what, err := openStore(ctx, dsn, schema, file)
	if err != nil {
		return err
	}
	defer closeStore()
	metrics, err := NewMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = metrics.Shutdown(context.Background()) }()
	srv, err := NewServer(ctx, metrics.Telemetry.Backend(store), Config{Telemetry: metrics.Telemetry})
	if err != nil {
		return err
	}
	if _, seeded, err := srv.Seed(ctx); err != nil {
		return err
	} else if seeded {
		log.Printf("seeded the demo desk")
	}
	// SLA/KPI catch-up and notifications run on the event stream, never
	// inside a request.
	bg, err := srv.StartBackground(ctx, time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = bg.Stop(context.Background()) }()
	hs := &http.Server{Addr: addr, Handler: metrics.Wrap(srv), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	// The escalation scheduler: every minute, the rules of EscalationRules.
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if n, err := srv.Escalate(ctx); err != nil {
					log.Printf("escalation: %v", err)
				} else if n > 0 {
					log.Printf("escalated %d incidents", n)
				}
			}
		}
	}()
	log.Printf("portal on http://%s with %s", addr, what)
	if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
