"""The container health probe asks a running service over the real (authenticated) bus, with the
service's own credentials, and only a service may probe itself."""

from __future__ import annotations

from ombudsman.eventstore.embedded import EmbeddedNats
from ombudsman.eventstore.healthcheck import check, main
from ombudsman.eventstore.settings import Settings
from ombudsman.projects.app import create_service


async def test_probe_answers_for_a_running_service_with_its_own_credentials(
        nats_server: EmbeddedNats, bus_auth, database_url: str) -> None:
    url = f"nats://127.0.0.1:{nats_server.port}"
    passwords = bus_auth.passwords
    service = create_service(Settings(database_url=database_url, nats_url=url, nats_user="projects",
                                      nats_password=passwords["projects"], secret_key="k" * 32))
    await service.start()
    try:
        ok, message = await check("projects", url, "projects", passwords["projects"])
        assert ok and message == "projects: ok"
        # another service may not publish projects' health query: the server drops it, no answer
        ok, message = await check("projects", url, "workload", passwords["workload"], timeout=1)
        assert not ok and "no healthy answer" in message
        # wrong password: refused, and the message names no secret
        ok, message = await check("projects", url, "projects", "not-the-password", timeout=2)
        assert not ok and "refused" in message and "not-the-password" not in message
    finally:
        await service.stop()
    ok, _ = await check("projects", url, "projects", passwords["projects"], timeout=1)
    assert not ok, "a stopped service is unhealthy"


def test_probe_without_a_service_name_is_a_usage_error(monkeypatch) -> None:
    monkeypatch.delenv("OMB_NATS_USER", raising=False)
    assert main([]) == 2
