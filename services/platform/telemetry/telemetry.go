// Package telemetry sets up what both services export: OpenTelemetry traces,
// configured only by the standard OTEL_* variables, and a Prometheus
// registry with the Go runtime and process collectors.
//
// Tracing is off unless an OTLP endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): then
// the global TracerProvider stays the no-op one, and instrumentation that
// checks Enabled is not even installed, so tracing off costs nothing.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Tracing is the outcome of Setup.
type Tracing struct {
	// Enabled says whether spans are exported. Callers skip installing
	// per-request instrumentation when it is false.
	Enabled bool
	// Shutdown flushes and stops the exporter; a no-op when disabled.
	Shutdown func(context.Context) error
}

// flushTimeout bounds how long a stopping service waits for its last spans
// to be exported.
const flushTimeout = 5 * time.Second

// Flush exports the spans still buffered and stops the exporter, within
// flushTimeout even when ctx is already cancelled (as it is at shutdown);
// a failure is logged, not returned: it must not turn a clean exit into an
// error. Meant for a defer right after Setup.
func (t Tracing) Flush(ctx context.Context, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if err := t.Shutdown(sctx); err != nil {
		log.WarnContext(sctx, "flushing traces", "err", err)
	}
}

// Enabled reports whether the environment asks for trace export.
func Enabled(lookup func(string) (string, bool)) bool {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, _ := lookup("OTEL_SDK_DISABLED"); strings.EqualFold(strings.TrimSpace(v), "true") {
		return false
	}
	if v, _ := lookup("OTEL_TRACES_EXPORTER"); strings.EqualFold(strings.TrimSpace(v), "none") {
		return false
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v, _ := lookup(k); strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// Setup installs the W3C trace-context and baggage propagator (always, so
// context passes through even a service that does not export) and, when
// Enabled, a TracerProvider exporting over OTLP/HTTP. The exporter, the
// sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) are read from the standard
// variables by the SDK; service is the name used when OTEL_SERVICE_NAME is
// unset.
func Setup(ctx context.Context, service string) (Tracing, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	noop := Tracing{Shutdown: func(context.Context) error { return nil }}
	if !Enabled(nil) {
		return noop, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, fmt.Errorf("OTLP trace exporter (OTEL_EXPORTER_OTLP_*): %w", err)
	}
	// Later options win: OTEL_SERVICE_NAME overrides the default name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return noop, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return Tracing{Enabled: true, Shutdown: tp.Shutdown}, nil
}

// Start is how a service begins: Setup for service, and a registry from
// NewRegistry. Call flush when the service stops (defer it), so the spans
// still buffered are exported.
func Start(ctx context.Context, service string, log *slog.Logger) (tracing Tracing, reg *prometheus.Registry, flush func(), err error) {
	tracing, err = Setup(ctx, service)
	if err != nil {
		return Tracing{}, nil, nil, err
	}
	return tracing, NewRegistry(), func() { tracing.Flush(ctx, log) }, nil
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, for a service's own metrics to join.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
