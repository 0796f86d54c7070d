"""The pure pieces: user decisions (lockout), token service (HS256/RS256, algorithm pinning), run-event names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.contracts.replies import Conflict, Unauthorized
from ombudsman.gateway import domain
from ombudsman.gateway.auth import LoginRateLimiter, TokenService, hash_password, verify_password
from ombudsman.gateway.runevents import ws_message
from ombudsman.gateway.settings import GatewaySettings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _fold(events: list[ev.Event], start: domain.UserState | None = None) -> domain.UserState:  # type: ignore[name-defined]
    state = start or domain.UserState()
    for event in events:
        env = envelope_for(event, stream_id="u1", version=state.version + 1, meta=Metadata(actor=Actor.system()))
        state = domain.USER.apply(state, env)
    return state


def test_lockout_on_the_fifth_failure_and_reset_by_success() -> None:
    state = _fold(domain.register(domain.UserState(), "u1", "ann", "user"))
    for attempt in range(1, 5):
        events = domain.login(state, password_ok=False, now=NOW, threshold=5, lockout=timedelta(minutes=15))
        assert [type(e).__name__ for e in events] == ["LoginFailed"]
        state = _fold(events, state)
        assert state.failed_attempts == attempt
    events = domain.login(state, password_ok=False, now=NOW, threshold=5, lockout=timedelta(minutes=15))
    assert [type(e).__name__ for e in events] == ["LoginFailed", "UserLockedOut"]
    state = _fold(events, state)
    assert state.locked(NOW + timedelta(minutes=14)) and not state.locked(NOW + timedelta(minutes=15, seconds=1))
    # While the flag is up, a source that failed before decides nothing, even with a right password;
    # another source is judged on its password (the flag slows, it never locks the owner out).
    assert domain.login(state, password_ok=True, now=NOW + timedelta(minutes=1), threshold=5,
                        lockout=timedelta(minutes=15), source_failed_before=True) == []
    assert [type(e).__name__ for e in domain.login(state, password_ok=True, now=NOW + timedelta(minutes=1),
                                                   threshold=5, lockout=timedelta(minutes=15))] == ["UserLoggedIn"]
    unlocked = _fold(domain.unlock(state), state)
    assert unlocked.locked_until is None and unlocked.failed_attempts == 0
    later = NOW + timedelta(minutes=16)
    state = _fold(domain.login(state, password_ok=True, now=later, threshold=5, lockout=timedelta(minutes=15)), state)
    assert state.failed_attempts == 0 and state.locked_until is None
    with pytest.raises(Conflict):
        domain.register(state, "u1", "ann", "user")
    assert domain.change_role(state, "user") == []


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_rs256_tokens_and_algorithm_pinning() -> None:
    private, public = _rsa_pair()
    service = TokenService(GatewaySettings(jwt_algorithm="RS256", jwt_private_key=private, jwt_public_key=public))
    token, claims = service.issue("u1", "ann", "user", now=datetime.now(UTC))
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert service.verify(token).sub == "u1" and claims.exp - claims.iat == 30 * 60
    assert set(jwt.decode(token, public, algorithms=["RS256"])) == {"sub", "username", "role", "jti", "exp", "iat"}
    # The classic confusion: an HS256 token whose HMAC key is the RSA PUBLIC key (built by hand,
    # since PyJWT refuses to sign that way).
    now = int(datetime.now(UTC).timestamp())
    signing_input = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(
        {"sub": "u1", "username": "ann", "role": "admin", "jti": "x", "iat": now, "exp": now + 300})
    signature = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    confused = signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        service.verify(confused)
    hs = TokenService(GatewaySettings(jwt_secret="s" * 40))
    other, _ = hs.issue("u1", "ann", "admin")
    with pytest.raises(Unauthorized):
        service.verify(other)
    with pytest.raises(ValueError, match="at least 32"):
        TokenService(GatewaySettings(jwt_secret="short"))


def test_passwords_hash_with_the_configured_cost_and_long_passwords_count_fully() -> None:
    hashed = hash_password("p" * 80 + "A", 4)
    assert hashed.startswith("$2b$04$")
    assert verify_password("p" * 80 + "A", hashed) and not verify_password("p" * 80 + "B", hashed)
    assert not verify_password("anything", "not-a-hash")


def test_rate_limiter_counts_per_ip_and_username() -> None:
    limiter = LoginRateLimiter(2)
    assert limiter.allow("1.1.1.1", "Ann")[0] and limiter.allow("1.1.1.1", "ann")[0]
    allowed, retry = limiter.allow("1.1.1.1", "ANN")
    assert not allowed and retry > 0
    assert limiter.allow("2.2.2.2", "ann")[0] and limiter.allow("1.1.1.1", "bob")[0]


@pytest.mark.parametrize(("event", "expected"), [
    (ev.RunStarted(run_id="r"), ("pipeline.started", None)),
    (ev.StepStarted(run_id="r", step="s"), ("step.started", None)),
    (ev.StepCompleted(run_id="r", step="s", status="passed"), ("step.completed", "passed")),
    (ev.StepCompleted(run_id="r", step="s", status="warning"), ("step.completed", "warning")),
    (ev.StepCompleted(run_id="r", step="s", status="failed"), ("step.failed", "failed")),
    (ev.StepCompleted(run_id="r", step="s", status="error"), ("step.failed", "error")),
    (ev.StepSkipped(run_id="r", step="s", reason="x"), ("step.completed", "skipped")),
    (ev.RunCompleted(run_id="r", status="completed", total_steps=1, successful_steps=1, failed_steps=0),
     ("pipeline.completed", "completed")),
    (ev.RunCompleted(run_id="r", status="failed", total_steps=1, successful_steps=0, failed_steps=1),
     ("pipeline.failed", "failed")),
    (ev.RunCancelled(run_id="r"), ("pipeline.failed", "cancelled")),
])
def test_run_events_get_the_seed_names(event: ev.Event, expected: tuple[str, str | None]) -> None:  # type: ignore[name-defined]
    message = ws_message(envelope_for(event, stream_id="r", version=3, meta=Metadata()), sequence=9)
    assert message is not None
    assert (message["type"], message.get("status")) == expected
    assert message["run_id"] == "r" and message["version"] == 3 and message["sequence"] == 9
