"""Encryption of stored secrets (platform credentials) with Fernet from `cryptography`.

The key comes from ORDERDOCK_ENCRYPTION_KEY, or is generated once into
``instance/encryption_key`` (mode 600). Losing the key means re-typing the stores' credentials,
nothing else: orders, clients and products are not encrypted.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


class SecretUnreadable(RuntimeError):
    """Stored credentials cannot be decrypted with this key; the message says what to do."""


def _fernet() -> Fernet:
    cache = current_app.extensions.get("orderdock_fernet")
    if cache is None:
        cache = Fernet(_key())
        current_app.extensions["orderdock_fernet"] = cache
    return cache


def _key() -> bytes:
    key = os.environ.get("ORDERDOCK_ENCRYPTION_KEY") or current_app.config.get("ENCRYPTION_KEY")
    if key:
        return key.encode()
    path = Path(current_app.instance_path) / "encryption_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return path.read_bytes().strip()


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("The store's saved credentials cannot be read with this server's encryption key "
                               "(was ORDERDOCK_ENCRYPTION_KEY or instance/encryption_key changed?). "
                               "Edit the store and enter its credentials again.") from None
