"""R-SEC-6: shop credentials are encrypted with keys that can be rotated (`flask secrets rotate`).

Choices where the rule leaves room:
- keys come newest first from ORDERDOCK_ENCRYPTION_KEYS (comma-separated), or
  ORDERDOCK_ENCRYPTION_KEY (one key, the older name), or else from a key file, one key a line,
  newest first (ORDERDOCK_ENCRYPTION_KEY_FILE, default instance/encryption_key);
- `flask secrets rotate` never changes the environment: with keys there, the operator puts a new
  key first (`flask secrets new-key`), restarts, rotates, then removes the old key. With a key
  file, `--new-key` and `--drop-old-keys` do those steps in the file;
- a credential that no key opens is named and left as it is (exit code 1), the others are
  re-encrypted all the same.
"""
from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from webapp import config as settings
from webapp.extensions import db
from webapp.models import Store
from webapp.secrets import SecretUnreadable

OLD, NEW, FOREIGN = (Fernet.generate_key().decode() for _ in range(3))
PASSWORDS = {"Shop one": "first-Pa55word", "Shop two": "second-Pa55word"}


def use_keys(app, *keys: str) -> None:
    app.config["ENCRYPTION_KEYS"] = ",".join(keys)


def add_store(world, name: str, password: str) -> int:
    store = Store(platform="cartum", name=name, url=f"https://{name.replace(' ', '-')}.example",
                  location=world.main, order_type=world.repair)
    store.credentials = {"login": "manager", "password": password}
    db.session.add(store)
    db.session.commit()
    return store.id


def stored_token(store_id: int) -> str:
    return db.session.execute(text("SELECT credentials_encrypted FROM stores WHERE id = :id"),
                              {"id": store_id}).scalar()


def password_of(store_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Store, store_id).credentials["password"]


def test_R_SEC_6_rotate_reencrypts_every_credential_so_the_old_key_can_go(app, world):
    """Stores saved under OLD; NEW is put first; `rotate` re-encrypts them all in one go, after
    which NEW alone opens them and OLD alone no longer does."""
    use_keys(app, OLD)
    ids = {name: add_store(world, name, password) for name, password in PASSWORDS.items()}
    use_keys(app, NEW, OLD)
    # While both keys are listed, new writes use the newest and old ones still open.
    assert password_of(ids["Shop one"]) == PASSWORDS["Shop one"]
    before = {store_id: stored_token(store_id) for store_id in ids.values()}

    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])

    assert result.exit_code == 0, result.output
    assert "2 re-encrypted with the newest key" in result.output
    assert "remove the older key" in result.output
    for store_id in ids.values():
        assert stored_token(store_id) != before[store_id]
    use_keys(app, NEW)
    for name, store_id in ids.items():
        assert password_of(store_id) == PASSWORDS[name]
    use_keys(app, OLD)
    with pytest.raises(SecretUnreadable):
        password_of(ids["Shop one"])
    for password in PASSWORDS.values():
        assert password not in result.output


def test_R_SEC_6_a_credential_no_key_opens_is_reported_and_kept(app, world):
    """A store saved under a key nobody lists any more is named with what to do; its row is left
    untouched (not lost, not overwritten), and the rest are re-encrypted all the same."""
    use_keys(app, FOREIGN)
    lost = add_store(world, "Shop lost", "lost-Pa55word")
    use_keys(app, OLD)
    kept = add_store(world, "Shop kept", "kept-Pa55word")
    lost_token = stored_token(lost)
    use_keys(app, NEW, OLD)

    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])

    assert result.exit_code == 1, result.output
    assert "1 re-encrypted with the newest key" in result.output
    assert f"Store {lost} (Shop lost)" in result.output and "enter its credentials again" in result.output
    assert stored_token(lost) == lost_token
    use_keys(app, NEW)
    assert password_of(kept) == "kept-Pa55word"


def test_R_SEC_6_rotate_with_a_key_file_adds_a_key_and_drops_the_old_ones(app, world, tmp_path):
    """The zero-config key file: `rotate --new-key` puts a fresh key first in the file (mode 600)
    and re-encrypts; `rotate --drop-old-keys` then leaves the newest key alone in it."""
    key_file = tmp_path / "keys" / "orderdock.key"
    app.config["ENCRYPTION_KEYS"] = ""
    app.config["ENCRYPTION_KEY_FILE"] = str(key_file)
    store_id = add_store(world, "Shop one", "first-Pa55word")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text().split()

    runner = app.test_cli_runner()
    added = runner.invoke(args=["secrets", "rotate", "--new-key"])
    assert added.exit_code == 0, added.output
    keys = key_file.read_text().split()
    assert len(keys) == 2 and keys[1:] == first and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "1 re-encrypted with the newest key" in added.output
    assert keys[0] not in added.output  # the file holds it; the terminal never shows it

    dropped = runner.invoke(args=["secrets", "rotate", "--drop-old-keys"])
    assert dropped.exit_code == 0, dropped.output
    assert key_file.read_text().split() == keys[:1]
    assert password_of(store_id) == "first-Pa55word"


def test_R_SEC_6_rotate_does_not_touch_keys_it_cannot_change(app, world):
    """Keys from the environment stay the operator's: --new-key says the steps instead."""
    use_keys(app, OLD)
    result = app.test_cli_runner().invoke(args=["secrets", "rotate", "--new-key"])
    assert result.exit_code != 0
    assert "ORDERDOCK_ENCRYPTION_KEYS" in result.output and "secrets new-key" in result.output


def test_R_SEC_6_new_key_prints_a_key_and_the_steps(app):
    result = app.test_cli_runner().invoke(args=["secrets", "new-key"])
    assert result.exit_code == 0, result.output
    Fernet(result.stdout.splitlines()[0].encode())  # a valid key, alone on the first line
    assert "ORDERDOCK_ENCRYPTION_KEYS" in result.output and "secrets rotate" in result.output


def test_R_SEC_6_keys_come_from_the_environment_newest_first(monkeypatch, tmp_path):
    """ORDERDOCK_ENCRYPTION_KEYS (newest first), its one-key alias ORDERDOCK_ENCRYPTION_KEY, and
    ORDERDOCK_ENCRYPTION_KEY_FILE all reach the app; a malformed key is named by position only."""
    for name in ("ORDERDOCK_ENCRYPTION_KEYS", "ORDERDOCK_ENCRYPTION_KEY", "ORDERDOCK_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORDERDOCK_ENCRYPTION_KEYS", f" {NEW} , {OLD}")
    assert settings.load({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})["ENCRYPTION_KEYS"] == f" {NEW} , {OLD}"
    monkeypatch.delenv("ORDERDOCK_ENCRYPTION_KEYS")
    monkeypatch.setenv("ORDERDOCK_ENCRYPTION_KEY", OLD)
    assert settings.load({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})["ENCRYPTION_KEYS"] == OLD
    monkeypatch.setenv("ORDERDOCK_ENCRYPTION_KEY_FILE", str(tmp_path / "elsewhere.key"))
    loaded = settings.load({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert loaded["ENCRYPTION_KEY_FILE"] == str(tmp_path / "elsewhere.key")


def test_R_SEC_6_the_newest_key_encrypts_and_a_bad_key_is_named_without_its_value(app, world):
    from webapp.secrets import decrypt, encrypt

    use_keys(app, f" {NEW} ", OLD)
    token = encrypt("hello")
    assert Fernet(NEW.encode()).decrypt(token.encode()) == b"hello"
    assert decrypt(Fernet(OLD.encode()).encrypt(b"old").decode()) == "old"
    use_keys(app, NEW, "not-a-key-at-all")
    with pytest.raises(settings.ConfigError) as error:
        encrypt("hello")
    assert "key 2 of 2" in str(error.value) and "not-a-key-at-all" not in str(error.value)

