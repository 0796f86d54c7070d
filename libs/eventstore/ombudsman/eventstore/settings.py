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
    # The role that owns the service's schema and runs its migrations, when it is not the runtime
    # role (the audit service: its runtime role may only INSERT and SELECT audit.event_log).
    migration_database_url: str | None = Field(default=None, repr=False,
                                               description="libpq URI used for migrations only")
    nats_url: str | None = Field(default=None, description="NATS server URL(s), comma separated")
    nats_user: str | None = Field(default=None, description="this process's NATS user (contracts.access)")
    nats_password: str | None = Field(default=None, repr=False, description="its NATS password")
    file_roots: str = Field(default="", description="OMB_FILE_ROOTS: folders DuckDB files may be opened from")
    bus_token_public_key: str = Field(default="", repr=False,
                                      description="PEM (or a file) of the gateway's Ed25519 bus token key")
    secret_key: str | None = Field(default=None, repr=False, description="key that encrypts secrets at rest")
    home: Path = Path(".ombudsman")
    log_level: str = "INFO"
    request_timeout: float = Field(default=10.0, gt=0)
    events_replicas: int = Field(default=1, ge=1, le=5)
    db_pool_size: int = Field(default=5, ge=1)
    handler_concurrency: int = Field(default=32, ge=1, description="commands/queries handled at once per process")
    # Prometheus /metrics of this process (eventstore/metrics.py); unset: not served
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_addr: str = "127.0.0.1"
    connect_timeout: float = Field(default=30.0, gt=0, description="how long start-up waits for NATS")
    bus_direct_queries: bool = Field(default=True, description="queries skip FastStream's dispatch (direct.py)")
    # the folder the gateway shares with services for uploaded files (Query Store exports, DDL files)
    workload_upload_dir: Path | None = None

    def require_secret(self, field: str, env: str, purpose: str, min_length: int = 16) -> str:
        """The secret in `field`, or a RuntimeError naming `env` (a service refuses to start without it)."""
        value = getattr(self, field) or ""
        if len(value) < min_length:
            state = "is not set" if not value else f"is shorter than {min_length} characters"
            raise RuntimeError(f"{env} {state}: it {purpose}. `ombudsman up` generates it under OMB_HOME; "
                               "a deployment must set it from a secret store (there is no default key).")
        return str(value)

    def upload_dir(self) -> Path:
        """`OMB_WORKLOAD_UPLOAD_DIR`, else `<OMB_HOME>/uploads` (resolved)."""
        return (self.workload_upload_dir or self.home / "uploads").resolve()

    def uploaded_file(self, path: str) -> Path:
        """A file the gateway left in the upload folder; `Invalid` for a path outside it or no file there."""
        from ombudsman.contracts.replies import Invalid

        root = self.upload_dir()
        file = Path(path)
        file = (file if file.is_absolute() else root / file).resolve()
        if not file.is_relative_to(root):
            raise Invalid("path: must name a file inside the upload folder", {"field": "path"})
        if not file.is_file():
            raise Invalid(f"path: no file {file.name!r} in the upload folder", {"field": "path"})
        return file

    def platform_env(self) -> dict[str, str]:
        """What the connection sandbox compares URLs with (engine.connectors.sandbox): this process's
        own database and bus, and the folders DuckDB files may be opened from."""
        return {"OMB_DATABASE_URL": self.database_url or "", "OMB_NATS_URL": self.nats_url or "",
                "OMB_FILE_ROOTS": self.file_roots}
