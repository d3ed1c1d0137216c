"""`flask secrets ...`: new encryption keys and the re-encryption of every stored shop
credential under the newest key (R-SEC-6), so that an old or leaked key can be retired.

With keys in ORDERDOCK_ENCRYPTION_KEYS these commands never change them (the environment is the
operator's): `new-key` prints a key and the steps. With the key file, `rotate --new-key` and
`rotate --drop-old-keys` make those steps in the file. A new key is never printed by `rotate`:
it lands in the file, so the terminal's scroll-back never holds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import click
from cryptography.fernet import InvalidToken
from sqlalchemy import select

from webapp.config import ConfigError
from webapp.extensions import db
from webapp.models import Store
from webapp.secrets import ENV_NAME, KeySource, key_source, new_key, write_key_file

secrets_group = click.Group("secrets", help="Encryption keys of the stored shop credentials (R-SEC-6).")

STEPS = (f"To start using it:\n"
         f"  1. put it first in {ENV_NAME}, before the keys there now: {ENV_NAME}=NEW_KEY,OLD_KEY\n"
         f"  2. restart the web server, the worker and the scheduler\n"
         f"  3. run `flask --app webapp secrets rotate` to re-encrypt every stored credential with it\n"
         f"  4. remove the old key from {ENV_NAME} and restart again.\n"
         f"Keep a copy of the key apart from the database backups: the two together open the credentials.")


@dataclass
class Rotation:
    rotated: int = 0
    current: int = 0  # already under the newest key
    unreadable: list[Store] = field(default_factory=list)


@secrets_group.command("new-key")
def new_key_command() -> None:
    """Print a new encryption key (alone on stdout) and, on stderr, how to bring it in."""
    click.echo(new_key())
    click.echo(STEPS, err=True)


@secrets_group.command("rotate")
@click.option("--new-key", "add_key", is_flag=True,
              help="Key file only: put a new key first in the file before re-encrypting.")
@click.option("--drop-old-keys", is_flag=True,
              help="Key file only: once every credential opens with the newest key, remove the other keys "
                   "from the file.")
def rotate(add_key: bool, drop_old_keys: bool) -> None:
    """Re-encrypt every stored shop credential with the newest key, in one transaction."""
    try:
        source = key_source()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if (add_key or drop_old_keys) and source.path is None:
        raise click.ClickException(
            f"The keys come from {ENV_NAME} (or ORDERDOCK_ENCRYPTION_KEY), which this command does not change. "
            f"Make a key with `flask --app webapp secrets new-key`, put it first in {ENV_NAME}, restart, "
            "then run `flask --app webapp secrets rotate` without options; remove the old key after it.")
    if add_key:
        write_key_file(source.path, [new_key(), *(key.decode() for key in source.keys)])
        source = key_source()
        click.echo(f"A new key is first in {source.path}; the older ones follow it until --drop-old-keys.")
    done = reencrypt(source)
    if not (done.rotated or done.current or done.unreadable):
        click.echo("No stored credentials yet: nothing to re-encrypt.")
    click.echo(f"{done.rotated} re-encrypted with the newest key, {done.current} already were, "
               f"{len(done.unreadable)} open with no key.")
    for store in done.unreadable:
        click.echo(f"  Store {store.id} ({store.name}): no key opens its credentials; edit the store and enter its "
                   "credentials again (the saved ones are left as they are).")
    if done.unreadable:
        raise click.exceptions.Exit(1)
    _retire_old_keys(source, drop_old_keys)


def reencrypt(source: KeySource) -> Rotation:
    """Every store's credentials (deleted stores' too) under the newest key; one commit."""
    newest, every = source.newest(), source.fernet()
    done = Rotation()
    # FOR UPDATE: on PostgreSQL, a store edited meanwhile waits rather than being overwritten.
    stores = db.session.scalars(select(Store).where(Store.credentials_encrypted != "")
                                .order_by(Store.id).with_for_update()).all()
    for store in stores:
        token = store.credentials_encrypted.encode()
        try:
            newest.decrypt(token)
            done.current += 1
            continue
        except InvalidToken:
            pass
        try:
            store.credentials_encrypted = every.rotate(token).decode()
            done.rotated += 1
        except InvalidToken:
            done.unreadable.append(store)
    _reencrypt_hook_secrets(newest, every)
    db.session.commit()
    return done


def _reencrypt_hook_secrets(newest, every) -> None:
    """The WooCommerce webhook secrets (R-HOOK-2) under the newest key too. One that opens with no
    key is dropped: the store's next registration makes a new one (its webhooks are replaced)."""
    for store in db.session.scalars(select(Store).where(Store.hook_secret_encrypted != "").with_for_update()):
        token = store.hook_secret_encrypted.encode()
        try:
            newest.decrypt(token)
        except InvalidToken:
            try:
                store.hook_secret_encrypted = every.rotate(token).decode()
            except InvalidToken:
                store.hook_secret_encrypted, store.hook_address = "", None


def _retire_old_keys(source: KeySource, drop: bool) -> None:
    if len(source.keys) == 1:
        return
    if drop:
        write_key_file(source.path, [source.keys[0].decode()])
        click.echo(f"The older keys are gone from {source.path}; only the newest is left.")
    elif source.path is None:
        click.echo(f"Every credential opens with the newest key: remove the older keys from {ENV_NAME} "
                   "and restart the web server, the worker and the scheduler.")
    else:
        click.echo(f"Every credential opens with the newest key: remove the older keys with "
                   f"`flask --app webapp secrets rotate --drop-old-keys`.")
