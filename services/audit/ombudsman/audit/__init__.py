"""The audit service: a hash-chained, append-only record of every event, search, verify, replay as-of, alerts."""
