"""The gateway's own database unavailable (connections cut, no new ones accepted): a request that needs
it gets 503 with Retry-After in the error shape, never a 500, and the same request succeeds once the
database accepts connections again."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.gateway.conftest import PASSWORD, Gateway


def _admin_url(database_url: str) -> tuple[str, str]:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


async def test_a_request_while_the_database_refuses_connections_is_503_then_succeeds(
        gateway: Gateway, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    await gateway.register("ana")
    admin_url, name = _admin_url(database_url)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 "
                          "AND pid <> pg_backend_pid()", name)
        # the first request meets its pooled connection cut; the next finds no new connection accepted
        for attempt in range(2):
            refused = await gateway.client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
            assert refused.status_code == 503, (attempt, refused.text)
            assert refused.json()["error"]["code"] == "unavailable"
            assert refused.headers["retry-after"] == "1"
            assert PASSWORD not in refused.text
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert (await gateway.login("ana"))["access_token"]
    assert not [r for r in caplog.records if "unhandled" in r.getMessage()]
