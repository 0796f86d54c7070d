"""The SDK tries a read or a login again when the gateway says it is briefly unavailable (503 with
Retry-After: its database was busy) and never sends a command twice; a 503 without Retry-After (a
service that did not answer) is reported at once. Against a real HTTP server playing a busy gateway."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from tests.support import HttpServerThread


class BusyGateway(BaseHTTPRequestHandler):
    """Answers 503 (with Retry-After when `retry_after`) for the first `busy` requests, then 200."""

    busy: ClassVar[int] = 0
    retry_after: ClassVar[str | None] = "0"
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        if len(self.seen) <= self.busy:
            body = json.dumps({"error": {"code": "unavailable", "message": "the gateway's database did not answer; retry",
                                         "details": {}}}).encode()
            self.send_response(503)
            if self.retry_after is not None:
                self.send_header("Retry-After", self.retry_after)
        else:
            body = json.dumps({"status": "ok", "access_token": "a", "refresh_token": "r", "token_type": "bearer",
                               "expires_in": 60, "id": "p1", "user": {"id": "u1", "username": "ana", "role": "user"}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def busy_gateway() -> Any:
    BusyGateway.seen = []
    server = HttpServerThread(BusyGateway)
    yield server
    server.stop()


def test_a_read_and_a_login_are_tried_again_while_the_gateway_says_retry(busy_gateway: Any) -> None:
    BusyGateway.busy, BusyGateway.retry_after = 2, "0"
    with OmbudsmanClient(busy_gateway.url) as client:
        assert client.health()["status"] == "ok"
        assert BusyGateway.seen == ["GET /api/v1/health"] * 3
        BusyGateway.seen = []
        client.login("ana", "secret")
        assert client.token == "a" and BusyGateway.seen == ["POST /api/v1/auth/login"] * 3


def test_a_command_is_never_sent_twice_and_a_plain_503_is_reported_at_once(busy_gateway: Any) -> None:
    BusyGateway.busy, BusyGateway.retry_after = 5, "0"
    with OmbudsmanClient(busy_gateway.url, "token") as client:
        with pytest.raises(ApiError) as refused:
            client.create_project("p1", "P1")
        assert refused.value.status == 503 and BusyGateway.seen == ["POST /api/v1/projects"]
        BusyGateway.seen, BusyGateway.retry_after = [], None  # a service that did not answer: no Retry-After
        with pytest.raises(ApiError):
            client.health()
        assert BusyGateway.seen == ["GET /api/v1/health"]


def test_retries_run_out(busy_gateway: Any) -> None:
    BusyGateway.busy, BusyGateway.retry_after = 10, "0"
    with OmbudsmanClient(busy_gateway.url, retries=2) as client, pytest.raises(ApiError) as refused:
        client.health()
    assert refused.value.status == 503 and len(BusyGateway.seen) == 3
