"""Event-sourcing mechanics shared by every service: the Postgres event store, the outbox relay,
JetStream consumers with tracking, projections and replay, request/reply, and the service runtime."""
