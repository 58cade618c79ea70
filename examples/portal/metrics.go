package main

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// Metrics is the portal's OpenTelemetry wiring: an SDK MeterProvider read
// by the Prometheus exporter into a registry of its own (nothing global),
// and the telemetry the pillars and the store report to.
type Metrics struct {
	// Telemetry goes to Config.Telemetry and wraps the store.
	Telemetry *telemetry.Telemetry
	provider  *sdkmetric.MeterProvider
	handler   http.Handler
}

// NewMetrics builds the provider, the exporter and the telemetry.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	tel, err := telemetry.New(telemetry.Config{MeterProvider: mp})
	if err != nil {
		return nil, err
	}
	return &Metrics{Telemetry: tel, provider: mp, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// Wrap serves GET /metrics (Prometheus text format) and hands every other
// request to next.
func (m *Metrics) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			m.handler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Shutdown stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }
