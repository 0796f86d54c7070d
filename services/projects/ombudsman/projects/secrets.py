"""Connection secrets encrypted at rest (Fernet, key derived from OMB_SECRET_KEY).

The full connection URL (with its password) is stored only here, encrypted; events, logs and replies
carry the masked URL. Secrets are deliberately outside the event log: replaying events never
reveals them, and deleting a project's connection removes its secret.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.projects.projections import SCHEMA


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, ciphertext: str) -> str:
    try:
        return _fernet(secret_key).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise OmbudsmanError("a connection secret cannot be decrypted: OMB_SECRET_KEY changed?") from None


def secret_key(ctx: ServiceContext) -> str:
    """The key encrypting connection secrets; Invalid when OMB_SECRET_KEY is not set."""
    if not ctx.settings.secret_key:
        raise Invalid("connections need OMB_SECRET_KEY to be set (it encrypts secrets at rest)")
    return ctx.settings.secret_key


async def stored_url(ctx: ServiceContext, project_id: str, name: str) -> tuple[str, str]:
    """A connection's full URL (decrypted) and kind; NotFound when the project has no such connection."""
    async with ctx.engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT kind, ciphertext FROM {SCHEMA}.connection_secrets WHERE project_id = :p AND name = :n"),
                {"p": project_id, "n": name},
            )
        ).first()
    if row is None:
        raise NotFound(f"connection {name!r} not found in project {project_id!r}", {"connection": name})
    return decrypt(secret_key(ctx), row[1]), str(row[0])
