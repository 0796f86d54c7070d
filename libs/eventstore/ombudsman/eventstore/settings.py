"""Settings of one service process, read from the environment with the `OMB_` prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """`OMB_DATABASE_URL`, `OMB_NATS_URL`, `OMB_SECRET_KEY`, `OMB_HOME`, `OMB_LOG_LEVEL`, ...

    `database_url` / `nats_url` left unset mean "the embedded servers": the launcher starts them and
    passes their URLs to every child process, so a service process always receives both.
    """

    model_config = SettingsConfigDict(env_prefix="OMB_", extra="ignore")

    database_url: str | None = Field(default=None, description="libpq URI of PostgreSQL")
    nats_url: str | None = Field(default=None, description="NATS server URL(s), comma separated")
    secret_key: str | None = Field(default=None, repr=False, description="key that encrypts secrets at rest")
    home: Path = Path(".ombudsman")
    log_level: str = "INFO"
    request_timeout: float = Field(default=10.0, gt=0)
    events_replicas: int = Field(default=1, ge=1, le=5)
    db_pool_size: int = Field(default=5, ge=1)
    handler_concurrency: int = Field(default=32, ge=1, description="commands/queries handled at once per process")
    connect_timeout: float = Field(default=30.0, gt=0, description="how long start-up waits for NATS")
