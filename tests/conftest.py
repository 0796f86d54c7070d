"""Shared fixtures: real NATS (JetStream) and real PostgreSQL for every integration test.

- NATS: `OMB_TEST_NATS_URL` when set (its OMB_* streams are deleted before each test), otherwise a
  fresh embedded `nats-server -js` per test (it starts in a few milliseconds).
- PostgreSQL: `OMB_TEST_DATABASE_URL` when set, otherwise one embedded `pgserver` per test session;
  every test that asks for `database_url` gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ombudsman.eventstore import natsauth
from ombudsman.eventstore.bustoken import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV, generate_keypair
from ombudsman.eventstore.embedded import EmbeddedNats, EmbeddedPostgres
from tests.metadata.fake_llm import FakeModel
from tests.support import fresh_database

# The test process plays the gateway: it holds the bus token key pair, so requests it makes for a
# person carry a signed token, and the services it starts verify them (no token -> refused).
_BUS_PRIVATE, _BUS_PUBLIC = generate_keypair()
os.environ[PRIVATE_KEY_ENV] = _BUS_PRIVATE
os.environ[PUBLIC_KEY_ENV] = _BUS_PUBLIC
# DuckDB files the platform may open (OMB_FILE_ROOTS): tests write theirs under the temporary folder;
# the sandbox tests set narrower roots of their own.
os.environ.setdefault("OMB_FILE_ROOTS", tempfile.gettempdir())


def pytest_configure(config: pytest.Config) -> None:
    """Each session's temporary folders in a folder of its own, not under /tmp/pytest-of-<user>: when
    run as root, the embedded PostgreSQL runs as the `pgserver` user, which pgserver lets traverse the
    data folder's parents (it opens them to others), but every new pytest session (a `make bench`, a
    second suite) closes /tmp/pytest-of-<user> again (pytest's own 0700 rule), and a test starting its
    PostgreSQL then fails with "Permission denied". An explicit --basetemp (and xdist's workers, which
    get one under the controller's) is kept."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="omb-pytest-")
        config.stash[_OWN_BASETEMP] = Path(config.option.basetemp)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's own temporary folder removed at its end (kept when given with --basetemp)."""
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


_OWN_BASETEMP = pytest.StashKey[Path]()


@dataclass(frozen=True)
class BusAuth:
    """The bus users of the embedded test NATS: their passwords and the server config that checks them."""

    passwords: dict[str, str]
    config: Path


@pytest.fixture(scope="session")
def bus_auth(tmp_path_factory: pytest.TempPathFactory) -> BusAuth:
    folder = tmp_path_factory.mktemp("nats-auth")
    passwords = natsauth.load_or_create_credentials(folder)
    return BusAuth(passwords, natsauth.write_server_config(folder, passwords))


@pytest.fixture
def nats_server(tmp_path: Path, bus_auth: BusAuth) -> Iterator[EmbeddedNats]:
    """A fresh embedded `nats-server -js` with authentication: one user per bus principal."""
    server = EmbeddedNats.start(tmp_path / "nats", config=bus_auth.config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(request: pytest.FixtureRequest, bus_auth: BusAuth) -> Iterator[str]:
    """A NATS URL carrying the operator (`admin`) credentials of a fresh authenticated server, or
    `OMB_TEST_NATS_URL` (its OMB_* streams deleted first)."""
    external = os.environ.get("OMB_TEST_NATS_URL")
    if external:
        asyncio.run(_delete_streams(external))
        yield external
        return
    server: EmbeddedNats = request.getfixturevalue("nats_server")
    yield f"nats://admin:{bus_auth.passwords['admin']}@127.0.0.1:{server.port}"


async def _delete_streams(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith("OMB_"):
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@contextlib.contextmanager
def embedded_postgres(prefix: str) -> Iterator[str]:
    """An embedded PostgreSQL server in a new temporary folder: the URL of its `postgres` database."""
    server = EmbeddedPostgres.start(Path(tempfile.mkdtemp(prefix=prefix)) / "pgdata")
    try:
        yield server.uri("postgres")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL of a PostgreSQL server the tests may create databases on."""
    external = os.environ.get("OMB_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with embedded_postgres("omb-pg-") as url:
        yield url


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test (libpq URI), dropped afterwards."""
    with fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def warehouse_server_url() -> Iterator[str]:
    """A second PostgreSQL server that plays a warehouse under test: connection URLs may never point
    at the platform's own server (issue 14), so source/target databases live here."""
    with embedded_postgres("omb-wh-") as url:
        yield url


@pytest.fixture
def warehouse_url(warehouse_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the warehouse server (not the platform's), dropped afterwards."""
    with fresh_database(warehouse_server_url, "omb_wh_") as url:
        yield url


@pytest.fixture
def model_synonyms() -> dict[str, str]:
    """The column synonyms the fake model answers a mapping question with (a module overrides it)."""
    return {}


@pytest.fixture
def fake_model(model_synonyms: dict[str, str]) -> Iterator[FakeModel]:
    """The fake language model server (tests/metadata/fake_llm.py) over real HTTP, for this test."""
    server = FakeModel(model_synonyms).start()
    yield server
    server.stop()
