"""Passwords (bcrypt), access tokens (JWT) and refresh tokens, and the login rate limiter."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import jwt

from ombudsman.contracts.replies import Unauthorized
from ombudsman.gateway.settings import GatewaySettings

# bcrypt reads at most 72 bytes; longer passwords are pre-hashed so no byte is silently ignored.
_BCRYPT_MAX = 72


def _password_bytes(password: str) -> bytes:
    raw = password.encode()
    if len(raw) > _BCRYPT_MAX:
        raw = hashlib.sha256(raw).hexdigest().encode()
    return raw


def hash_password(password: str, rounds: int) -> str:
    """A bcrypt hash of `password` at cost `rounds`."""
    return bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_password_bytes(password), hashed.encode())
    except ValueError:
        return False


# Spent on unknown usernames so a miss takes as long as a wrong password.
_DUMMY_HASHES: dict[int, str] = {}


def burn_password_check(password: str, rounds: int) -> None:
    if rounds not in _DUMMY_HASHES:
        _DUMMY_HASHES[rounds] = hash_password(secrets.token_hex(8), rounds)
    verify_password(password, _DUMMY_HASHES[rounds])


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are stored as their SHA-256: they are random, so no salt is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


@dataclass(frozen=True)
class TokenClaims:
    """What a verified access token says."""

    sub: str
    username: str
    role: str
    jti: str
    exp: int
    iat: int


def _key_text(value: str) -> str:
    if value and not value.lstrip().startswith("-----") and Path(value).exists():
        return Path(value).read_text()
    return value


class TokenService:
    """Issues and verifies access tokens with one configured algorithm (HS256 or RS256)."""

    def __init__(self, settings: GatewaySettings):
        self.algorithm = settings.jwt_algorithm
        self.lifetime = timedelta(minutes=settings.access_token_minutes)
        # token text -> its claims, once its signature and claims verified (see verify)
        self._verified: dict[str, TokenClaims] = {}
        if self.algorithm == "RS256":
            self._sign_key = _key_text(settings.jwt_private_key)
            self._verify_key = _key_text(settings.jwt_public_key)
            if not self._sign_key or not self._verify_key:
                raise ValueError("RS256 needs OMB_JWT_PRIVATE_KEY and OMB_JWT_PUBLIC_KEY")
        else:
            if not settings.jwt_secret:
                raise ValueError("OMB_JWT_SECRET is not set: it signs access tokens (`ombudsman up` generates it; "
                                 "a deployment must set it, there is no default key)")
            if len(settings.jwt_secret) < 32:
                raise ValueError("OMB_JWT_SECRET must be at least 32 characters")
            self._sign_key = self._verify_key = settings.jwt_secret

    def issue(self, user_id: str, username: str, role: str, now: datetime | None = None) -> tuple[str, TokenClaims]:
        now = now or datetime.now(UTC)
        claims = TokenClaims(
            sub=user_id,
            username=username,
            role=role,
            jti=uuid.uuid4().hex,
            iat=int(now.timestamp()),
            exp=int((now + self.lifetime).timestamp()),
        )
        token = jwt.encode(claims.__dict__, self._sign_key, algorithm=self.algorithm)
        return token, claims

    def verify(self, token: str) -> TokenClaims:
        """The token's claims, or Unauthorized (expired, tampered, other algorithm, `none`).

        A token verified before is answered from memory until its `exp` (a signed token never
        changes, so its signature and claims check gives the same answer; only the time moves,
        and expiry is checked on every call). Revocation is the caller's check (active_user).
        """
        known = self._verified.get(token)
        if known is not None and time.time() < known.exp:
            return known
        claims = self._verify(token)
        if len(self._verified) >= 10_000:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            # Only the configured algorithm is accepted: `none` and algorithm swaps fail here.
            data = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self.algorithm],
                options={"require": ["sub", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid access token") from None
        try:
            return TokenClaims(
                sub=str(data["sub"]),
                username=str(data.get("username", "")),
                role=str(data.get("role", "viewer")),
                jti=str(data["jti"]),
                exp=int(data["exp"]),
                iat=int(data["iat"]),
            )
        except (KeyError, TypeError, ValueError):
            raise Unauthorized("invalid access token") from None


class LoginRateLimiter:
    """Sliding one-minute window of login attempts per (client IP, username).

    Kept in this process's memory: with several gateway replicas each counts on its own, so the
    effective limit is per replica. The persistent protection is the account lockout.
    """

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def allow(self, ip: str, username: str) -> tuple[bool, int]:
        """Whether one more attempt is allowed now, and the seconds to wait when not."""
        now = time.monotonic()
        key = (ip, username.lower())
        window = self._hits[key]
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False, max(1, int(60 - (now - window[0])) + 1)
        window.append(now)
        if len(self._hits) > 100_000:  # bound memory under a spray of usernames
            for k in [k for k, v in self._hits.items() if not v or now - v[-1] > 60]:
                del self._hits[k]
        return True, 0
