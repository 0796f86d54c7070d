"""The end user on the bus: a short-lived token the gateway signs (Ed25519, PyJWT's EdDSA) and
every service verifies with the public key (ARCHITECTURE.md §7).

A command or query made on behalf of a person carries header `Omb-Token`; the service takes the
actor (id, name, role) from the verified token, never from the `Omb-Metadata` header. A call
without a token is a service acting on its own behalf, allowed only on the subjects
`contracts.access` opens to services (whose NATS users alone may publish them).

Only the gateway holds the private key (`OMB_BUS_TOKEN_PRIVATE_KEY`); services hold the public key
(`OMB_BUS_TOKEN_PUBLIC_KEY`). A service forwards the token it received when it calls another
service for the same person (`Metadata.token`), so it can never act as a person of its choosing.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Unauthorized

TOKEN_HEADER = "Omb-Token"
ISSUER = "omb-gateway"
AUDIENCE = "omb-bus"
ALGORITHM = "EdDSA"
LIFETIME = 15 * 60  # seconds a bus token is valid
REISSUE_BELOW = 10 * 60  # a cached token is replaced when less than this is left, so a forwarded one lasts
PRIVATE_KEY_ENV = "OMB_BUS_TOKEN_PRIVATE_KEY"
PUBLIC_KEY_ENV = "OMB_BUS_TOKEN_PUBLIC_KEY"
PERSON_ROLES = ("admin", "user", "viewer", "system")


def generate_keypair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def key_text(value: str) -> str:
    """PEM text given inline, or read from the file `value` names."""
    value = value.strip()
    if value and not value.startswith("-----") and Path(value).is_file():
        return Path(value).read_text()
    return value


class BusTokenSigner:
    """Signs bus tokens for people; one token per actor is reused until it nears its expiry."""

    def __init__(self, private_key: str) -> None:
        self._key = serialization.load_pem_private_key(key_text(private_key).encode(), password=None)
        if not isinstance(self._key, Ed25519PrivateKey):
            raise ValueError(f"{PRIVATE_KEY_ENV} must be an Ed25519 private key (PEM)")
        self._cache: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token_for(self, actor: Actor) -> str:
        key = (actor.id, actor.name, actor.role)
        now = time.time()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[1] - now > REISSUE_BELOW:
                return cached[0]
        expires = int(now) + LIFETIME
        token = jwt.encode({"sub": actor.id, "name": actor.name, "role": actor.role, "iss": ISSUER, "aud": AUDIENCE,
                            "iat": int(now), "exp": expires}, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (token, expires)
        return token


class BusTokenVerifier:
    """Verifies bus tokens with the gateway's public key; verified tokens are remembered until they expire."""

    def __init__(self, public_key: str, cache_size: int = 4096) -> None:
        text = key_text(public_key)
        if not text:
            raise ValueError(f"{PUBLIC_KEY_ENV} is not set: services verify the gateway's bus tokens with it "
                             "(`ombudsman up` generates the key pair under OMB_HOME)")
        self._key = serialization.load_pem_public_key(text.encode())
        self._cache: OrderedDict[str, tuple[Actor, float]] = OrderedDict()
        self._size = cache_size

    def actor(self, token: str) -> Actor:
        """The person a token names, or `Unauthorized` (expired, tampered, wrong key or audience)."""
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            self._cache.move_to_end(token)
            return hit[0]
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE,  # type: ignore[arg-type]
                                issuer=ISSUER, options={"require": ["sub", "exp", "iat", "aud", "iss"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the bus token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid bus token") from None
        role = claims.get("role")
        if role not in PERSON_ROLES:
            raise Unauthorized("invalid bus token: unknown role")
        actor = Actor(id=str(claims["sub"]), name=str(claims.get("name") or ""), role=role)
        self._cache[token] = (actor, float(claims["exp"]))
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return actor


_signer: BusTokenSigner | None = None
_signer_key: str | None = None


def process_signer() -> BusTokenSigner | None:
    """The signer of this process when it holds the private key (the gateway; tests), else None."""
    global _signer, _signer_key
    key = os.environ.get(PRIVATE_KEY_ENV, "")
    if not key:
        return None
    if _signer is None or key != _signer_key:
        _signer, _signer_key = BusTokenSigner(key), key
    return _signer


def token_for(meta: Metadata) -> str | None:
    """The token a request made with `meta` carries: none for a service acting on its own behalf;
    the forwarded one when the request continues a person's; else one this process signs, if it can."""
    if meta.actor.role == "service":
        return None
    if meta.token:
        return meta.token
    signer = process_signer()
    return signer.token_for(meta.actor) if signer is not None else None
