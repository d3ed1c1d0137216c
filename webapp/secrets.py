"""Encryption of stored secrets (shop credentials, the store wizard's draft) with MultiFernet
from `cryptography`, under keys that can be rotated (R-SEC-6).

The keys, newest first, come from the first of:

1. ``ORDERDOCK_ENCRYPTION_KEYS``, comma-separated (``ORDERDOCK_ENCRYPTION_KEY``, one key, is
   its older name and still works);
2. the key file, ``ORDERDOCK_ENCRYPTION_KEY_FILE`` (default ``instance/encryption_key``), one
   key a line, made with one fresh key (mode 600) when it is missing.

The newest key encrypts and every listed key decrypts: a new key goes first, `flask secrets
rotate` (webapp/secrets_cli.py) re-encrypts what is stored, and the old key can then go.

The default key file sits in instance/ so that `make run` and a first start need no set-up. With
SQLite the database sits there too, and a copy of the folder then holds the credentials and
their key together; a real installation sets ORDERDOCK_ENCRYPTION_KEY_FILE to a path outside
it, or the keys in the service's environment (README, Configuration). A key file that changes
on disk is read again by running processes, so a rotation through the file reaches them
without a restart; keys from the environment need one.

Losing every key means typing the stores' credentials again, nothing else: orders, clients and
products are not encrypted.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from webapp.config import ConfigError

ENV_NAME = "ORDERDOCK_ENCRYPTION_KEYS"
_CACHE = "orderdock_fernet"  # app.extensions: (where the keys came from, as last seen; MultiFernet)


class SecretUnreadable(RuntimeError):
    """Stored credentials open with none of the keys; the message says what to do."""


@dataclass(frozen=True)
class KeySource:
    """The keys in use, newest first, and where they came from."""

    keys: tuple[bytes, ...]
    origin: str  # for messages: the variable's name or the key file's path
    path: Path | None = None  # the key file, when the keys came from one

    def newest(self) -> Fernet:
        return Fernet(self.keys[0])

    def fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self.keys])


def key_source() -> KeySource:
    """The configured keys; the key file is made when no key is configured and it is missing."""
    listed = _listed()
    if listed:
        return KeySource(_parsed(listed, ENV_NAME), ENV_NAME)
    path = _key_file()
    if not path.exists():
        _create_key_file(path)
    return KeySource(_parsed(path.read_text().split(), f"The key file {path}"), str(path), path)


def new_key() -> str:
    return Fernet.generate_key().decode()


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file in one step (a reader sees the old or the new file, whole), mode 600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: mode 600
    try:
        with os.fdopen(fd, "w") as file:
            file.write("".join(f"{key}\n" for key in keys))
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("The store's saved credentials open with none of this server's encryption keys "
                               "(were ORDERDOCK_ENCRYPTION_KEYS or the key file changed?). "
                               "Edit the store and enter its credentials again.") from None


def _listed() -> str | list | tuple:
    config = current_app.config
    return config.get("ENCRYPTION_KEYS") or config.get("ENCRYPTION_KEY") or ""


def _key_file() -> Path:
    return Path(current_app.config.get("ENCRYPTION_KEY_FILE") or Path(current_app.instance_path) / "encryption_key")


def _parsed(listed: str | list | tuple, origin: str) -> tuple[bytes, ...]:
    items = listed.split(",") if isinstance(listed, str) else list(listed)
    keys = [item.strip() for item in items if item.strip()]
    if not keys:
        raise ConfigError(f"{origin} holds no key. Restore it from your key backup; to start afresh, make one "
                          "with `flask --app webapp secrets new-key` (saved credentials must then be entered again).")
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):  # the key itself is never part of the message
            raise ConfigError(f"{origin}: key {number} of {len(keys)} is not a Fernet key (44 characters of "
                              "URL-safe base64); make one with `flask --app webapp secrets new-key`.") from None
    return tuple(key.encode() for key in keys)


def _create_key_file(path: Path) -> None:
    """A key file with one new key. Processes starting together (gunicorn's workers, the worker,
    the scheduler) must agree on one key: the file appears whole, by a hard link that fails when
    another process linked first, and then theirs is used."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(new_key() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def _signature() -> tuple:
    """What the keys depend on, cheap to compare on every use: the settings, and the key file's
    identity on disk (a rotation replaces it)."""
    listed = _listed()
    if listed:
        return (str(listed),)
    path = _key_file()
    try:
        seen = path.stat()
    except FileNotFoundError:
        return (str(path), None)
    return (str(path), seen.st_ino, seen.st_mtime_ns, seen.st_size)


def _fernet() -> MultiFernet:
    signature = _signature()
    cached = current_app.extensions.get(_CACHE)
    if cached is None or cached[0] != signature:
        fernet = key_source().fernet()
        cached = (_signature(), fernet)  # after key_source: it may have made the file
        current_app.extensions[_CACHE] = cached
    return cached[1]
