"""Tokens passed in a query string never reach the access log."""

import logging

from ombudsman.gateway.__main__ import RedactTokens


def test_access_log_lines_redact_query_tokens() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.1:5000", "GET", "/ws/runs/r1?token=eyJhbGciOi.secret.sig&x=1", "1.1", 101), None)
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert "eyJhbGciOi" not in line and "/ws/runs/r1?token=****&x=1" in line
    other = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %s", ("GET", "/api/v1/projects?limit=5"), None)
    RedactTokens().filter(other)
    assert other.getMessage() == "GET /api/v1/projects?limit=5"
