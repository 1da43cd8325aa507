//! OpenTelemetry export of the tracing spans (cargo feature `otel`, off by default).
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g. `http://127.0.0.1:4318`), every span the log
//! filter (`DONGBO_LOG`) lets through — a job, its steps, each upstream call, with their fields —
//! is also sent over OTLP/HTTP (protobuf) to `{endpoint}/v1/traces`, in batches from a thread of
//! its own; the logs on stderr are unchanged. The exporter reads the standard variables
//! (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_*`,
//! `OTEL_RESOURCE_ATTRIBUTES`); the service is `dongbo` unless `OTEL_SERVICE_NAME` says
//! otherwise. Unset, nothing is exported and nothing else changes.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The exporting pipeline; dropping it sends the spans still queued (shutdown).
pub struct Export(SdkTracerProvider);

impl Drop for Export {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("warning: OpenTelemetry export did not shut down cleanly: {e}");
        }
    }
}

/// The layer that exports spans, and its pipeline to keep until the process ends; `None` when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is unset or empty. Call it outside an async runtime (the
/// exporter's HTTP client is a blocking one, driven by the batch thread).
pub fn layer<S>() -> Option<(impl Layer<S>, Export)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.trim().is_empty())?;
    let exporter = match SpanExporter::builder().with_http().build() {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("warning: OpenTelemetry export is off: {e}");
            return None;
        }
    };
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("dongbo");
    }
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
    let tracer = provider.tracer("dongbo");
    Some((tracing_opentelemetry::layer().with_tracer(tracer), Export(provider)))
}
