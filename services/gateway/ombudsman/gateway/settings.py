"""Gateway settings from the environment (`OMB_` prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ombudsman.gateway.domain import Role


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="OMB_", extra="ignore")

    database_url: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None  # the gateway's NATS user and password (contracts.access)
    nats_password: str | None = Field(default=None, repr=False)
    # JetStream replicas of OMB_EVENTS and OMB_WORK when the gateway is first to create them (3 in a cluster)
    events_replicas: int = Field(default=1, ge=1, le=5)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8800
    # Prometheus /metrics on a port of its own (never on the public API port), as every service process
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_addr: str = "127.0.0.1"

    jwt_secret: str = ""
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_private_key: str = ""  # PEM text or a path, RS256 only
    jwt_public_key: str = ""  # PEM text or a path, RS256 only
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    # bcrypt cost: 12 in production; tests may lower it (never below 4, bcrypt's minimum).
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    # Login throttling (ombudsman.gateway.throttle): the account flag after `lockout_threshold`
    # failures from any addresses lasts `lockout_minutes` and only slows (never locks out the owner);
    # each (username, client IP) gets `throttle_free_attempts` failures, then waits
    # base * 2**k seconds (at most `throttle_max_seconds`); each client IP gets `ip_free_attempts`
    # failures over all usernames, then backs off the same way with 429 + Retry-After.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    throttle_free_attempts: int = Field(default=3, ge=0)
    throttle_base_seconds: float = Field(default=2.0, gt=0)
    throttle_max_seconds: float = Field(default=15 * 60.0, gt=0)
    ip_free_attempts: int = Field(default=50, ge=1)
    throttle_window_minutes: int = Field(default=60, ge=1)
    # Login attempts per (client IP, username) per minute, counted in this process's memory.
    login_rate_per_minute: int = Field(default=10, ge=1)
    open_registration: bool = False

    # Single sign-on with an OpenID Connect provider (oidc.py); off while OMB_OIDC_ISSUER is empty.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = Field(default="", repr=False)  # empty for a public client (PKCE only)
    # the client the CLI's device flow uses (a public client); its ID tokens are accepted too
    oidc_cli_client_id: str = ""
    oidc_scopes: str = "openid profile email"
    oidc_groups_claim: str = "groups"
    # "provider group=role,..." with the roles that exist (admin, user, viewer)
    oidc_role_map: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # the role of a person none of whose groups is mapped; "none" refuses them
    oidc_default_role: Role | Literal["none"] = "viewer"
    oidc_redirect_uri: str = ""  # default: this gateway's /api/v1/auth/oidc/callback as requested
    oidc_post_login_redirect: str = "/"  # where the browser lands, with ?sso_code=<one-time code>

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    request_timeout: float = Field(default=10.0, gt=0)
    health_timeout: float = Field(default=1.5, gt=0)

    # Workload uploads: files go to the folder shared with the workload service (the same
    # `OMB_WORKLOAD_UPLOAD_DIR`, default `<OMB_HOME>/uploads`) and only their path crosses NATS.
    home: Path = Path(".ombudsman")
    workload_upload_dir: Path | None = None
    workload_upload_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    ddl_upload_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # JSON-inline uploads at most this big (UTF-8 bytes) are sent inline; larger ones go through the folder.
    workload_inline_max_bytes: int = Field(default=512 * 1024, ge=0, le=900 * 1024)

    def upload_dir(self) -> Path:
        """The shared upload folder (created on first use)."""
        return (self.workload_upload_dir or self.home / "uploads").resolve()

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @field_validator("oidc_role_map", mode="before")
    @classmethod
    def _role_map(cls, value: object) -> object:
        if isinstance(value, str):
            pairs: dict[str, str] = {}
            for item in (v.strip() for v in value.split(",")):
                if not item:
                    continue
                group, sep, role = item.rpartition("=")
                if not sep or not group.strip():
                    raise ValueError(f"OMB_OIDC_ROLE_MAP: {item!r} is not group=role")
                pairs[group.strip()] = role.strip()
            value = pairs
        if isinstance(value, dict):
            for group, role in value.items():
                if role not in get_args(Role):
                    raise ValueError(f"OMB_OIDC_ROLE_MAP: group {group!r} maps to unknown role {role!r}"
                                     f" (roles: {', '.join(get_args(Role))})")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        if value:
            url = urlsplit(value)
            local = url.hostname in ("localhost", "127.0.0.1", "::1")
            if url.scheme != "https" and not (url.scheme == "http" and local):
                raise ValueError("OMB_OIDC_ISSUER must be an https URL (http only for localhost)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                import json

                return json.loads(stripped)
            return [v.strip() for v in stripped.split(",") if v.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> GatewaySettings:
    return GatewaySettings()
