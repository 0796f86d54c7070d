"""A span per HTTP request, so a trace started at the gateway (or by the caller, through its
`traceparent` header) continues over NATS into the services and into the events they append."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ombudsman.eventstore import tracing


class Traced:
    """ASGI middleware: one SERVER span per HTTP request; the trace id is returned in `X-Trace-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = {k: headers[k] for k in ("traceparent", "tracestate") if k in headers}
        name = f"{scope.get('method', 'GET')} {scope.get('path', '')}"
        with tracing.span(name, kind=tracing.SpanKind.SERVER, parent_headers=incoming,
                          attributes={"http.method": scope.get("method", ""), "http.target": scope.get("path", "")}):
            trace_id, _ = tracing.trace_ids()

            async def send_with_trace(message: Message) -> None:
                if message["type"] == "http.response.start" and trace_id:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"x-trace-id", trace_id.encode())]}
                await send(message)

            await self.app(scope, receive, send_with_trace)
