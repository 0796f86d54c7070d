"""Connection secrets encrypted at rest (Fernet, key derived from OMB_SECRET_KEY).

The full connection URL (with its password) is stored only here, encrypted; events, logs and replies
carry the masked URL. Secrets are deliberately outside the event log: replaying events never
reveals them, and deleting a project's connection removes its secret.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from ombudsman.contracts.replies import OmbudsmanError


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
