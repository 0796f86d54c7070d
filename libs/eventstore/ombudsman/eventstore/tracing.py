"""OpenTelemetry: tracer set-up and W3C trace context carried in NATS headers.

A trace started anywhere (the gateway's HTTP request) continues through every NATS hop: `rpc.request`
and the outbox relay inject `traceparent` into headers, the service runtime extracts it and opens a
server span, and events appended under that span carry its `traceparent` in their envelope.

Exporting: set `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://collector:4318`; spans go to `<it>/v1/traces`
over OTLP/HTTP protobuf, `opentelemetry-exporter-otlp-proto-http`, a dependency of this package) or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) to ship spans, with the exporter's other standard
`OTEL_EXPORTER_OTLP_*` variables (headers, timeout) and `OTEL_BSP_*` (batching); `OMB_TRACE_CONSOLE=1`
prints them. Each process names itself `ombudsman-<service>` (resource `service.name`). Sampling is parent-based: a trace whose caller sampled it (the
`traceparent` flag) is recorded; a trace started here is recorded with probability
`OMB_TRACE_SAMPLE_RATIO` (default 1). While no span processor is installed (no exporter: nothing would
read the spans) no span is recorded at all. Unsampled spans still carry ids: trace ids reach logs,
events and `X-Trace-Id` either way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_configured = False


def setup_tracing(service_name: str) -> None:
    """Install an SDK tracer provider for this process (once; later calls do nothing)."""
    global _configured
    if _configured:
        return
    _configured = True
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return  # the application (or a test) installed its own provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"ombudsman-{service_name}"}))
    provider.sampler = _sampler(provider)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:  # an install without the exporter: say so rather than drop every span quietly
            logging.getLogger(__name__).warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http is not installed: "
                "no spans are exported")
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if os.environ.get("OMB_TRACE_CONSOLE"):
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def sample_ratio() -> float:
    """The share of traces started in this process that are recorded (see the module docstring)."""
    raw = os.environ.get("OMB_TRACE_SAMPLE_RATIO", "").strip()
    if not raw:
        return 1.0
    try:
        ratio = float(raw)
    except ValueError:
        raise ValueError(f"OMB_TRACE_SAMPLE_RATIO must be a number from 0 to 1, not {raw!r}") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OMB_TRACE_SAMPLE_RATIO must be a number from 0 to 1, not {raw!r}")
    return ratio


def _sampler(provider: Any) -> Any:
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )

    class WhenRead(Sampler):
        """Parent-based ratio sampling, and no recording while the provider has no span processor
        (a span nobody exports costs its attributes, events and end for nothing)."""

        def __init__(self) -> None:
            self.inner = ParentBased(TraceIdRatioBased(sample_ratio()))

        def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any) -> Any:
            # the SDK keeps its processors here; an empty tuple means no exporter and no test collector
            if not getattr(getattr(provider, "_active_span_processor", None), "_span_processors", (None,)):
                return SamplingResult(Decision.DROP)
            return self.inner.should_sample(parent_context, trace_id, name, *args, **kwargs)

        def get_description(self) -> str:
            return f"WhenRead({self.inner.get_description()})"

    return WhenRead()


def tracer() -> trace.Tracer:
    return trace.get_tracer("ombudsman.eventstore")


def inject(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the current span's `traceparent` (and `tracestate`) to `headers`."""
    _PROPAGATOR.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by `headers` (an empty context when there is none)."""
    return _PROPAGATOR.extract(dict(headers or {}), getter=DefaultGetter())


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None outside any valid span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    return extract({"traceparent": traceparent} if traceparent else {})


@contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent_headers: Mapping[str, str] | None = None,
         attributes: dict[str, Any] | None = None) -> Iterator[Span]:
    """A span, child of the context in `parent_headers` when given, else of the current span."""
    ctx = extract(parent_headers) if parent_headers is not None else None
    with tracer().start_as_current_span(name, context=ctx, kind=kind, attributes=attributes) as current:
        yield current


def trace_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the current span as hex, for logs."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
