"""`flask clients merge-phones`: one client per buyer for clients made before R-CLI-5.

Before R-CLI-5 a phone written without its country code ("050 256 47 78") was read in the back
office's PHONE_REGION only, so a Ukrainian buyer who wrote it that way once and "+380 …" another
time became two clients. This command reads every client's phone as typed again, the way an
import reads it now, and merges the clients that turn out to be one buyer.

What "the way an import reads it now" can mean here: an order's own country is not kept, so a
client's phone is read in the countries of the stores its orders came from (newest order
first), then in PHONE_REGION. Set each store's country first (Settings > Stores > Edit), then
run this; ``--dry-run`` says what would happen and changes nothing.

Merging keeps the oldest client of a group (its page and number stay), moves every order to it
with a line in each moved order's feed, fills the fields it lacks from the others (an employee's
edited name wins over an imported one) and deletes the others. A client whose phone only reads
differently (no twin) gets the new reading. Running it again finds nothing to do.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Client, FeedKind, Order, Store
from webapp.phones import shown, to_e164

FILLED = ("email", "address")


@dataclass
class Group:
    """Clients whose phones read as one number: ``kept`` stays, ``merged`` go into it."""

    phone: str
    kept: Client
    merged: list[Client] = field(default_factory=list)
    reread: bool = False  # the kept client's phone reads otherwise than it is stored


def store_countries() -> dict[int, tuple[str, ...]]:
    """Client id -> the countries of the stores its orders came from, newest order first."""
    rows = db.session.execute(select(Order.client_id, Store.country).join(Store, Order.store_id == Store.id)
                              .order_by(Order.id.desc()))
    countries: dict[int, dict[str, None]] = defaultdict(dict)
    for client_id, country in rows:
        if country:
            countries[client_id][country] = None
    return {client_id: tuple(found) for client_id, found in countries.items()}


def reading(client: Client, countries: tuple[str, ...], phone_region: str) -> str | None:
    """The client's phone as an import reads it now (R-CLI-5); what it has when its typed
    phone cannot be read (or none was typed)."""
    if not client.phone_raw:
        return client.phone
    return to_e164(client.phone_raw, (*countries, phone_region)) or client.phone


def plan(phone_region: str) -> list[Group]:
    """Every group with something to do: clients to merge, or one phone to read anew."""
    countries = store_countries()
    by_phone: dict[str, list[Client]] = defaultdict(list)
    query = select(Client).where(Client.system_key.is_(None), Client.phone.is_not(None) | (Client.phone_raw != ""))
    for client in db.session.scalars(query.order_by(Client.id)):
        phone = reading(client, countries.get(client.id, ()), phone_region)
        if phone:
            by_phone[phone].append(client)
    groups = (Group(phone, members[0], members[1:], members[0].phone != phone) for phone, members in by_phone.items())
    return [group for group in groups if group.merged or group.reread]


def apply(groups: list[Group]) -> None:
    """Carry out the plan (see the module docstring). Flushes, never commits.

    Every phone that changes hands is let go first: one group's kept client may need the
    number another client holds until its own group reads it anew."""
    for group in groups:
        for client in (*group.merged, *([group.kept] if group.reread else [])):
            client.phone = None
    db.session.flush()
    for group in groups:
        kept = group.kept
        for other in group.merged:
            _fill(kept, other)
            for order in list(other.orders):
                order.client = kept
                order.note(FeedKind.SYSTEM, f"Client merged: {_label(other)} and {_label(kept)} are one buyer "
                                            f"(phone {shown(group.phone, None)} written another way), so this "
                                            f"order now belongs to client #{kept.id}.")
            db.session.delete(other)
        kept.phone = group.phone
        if not kept.phone_raw:
            kept.phone_raw = next((other.phone_raw for other in group.merged if other.phone_raw), "")
    db.session.flush()


def _fill(kept: Client, other: Client) -> None:
    """What the kept client lacks, from the other; an employee's edited name beats an imported one."""
    if other.name_edited and not kept.name_edited:
        kept.first_name, kept.last_name, kept.name_edited = other.first_name, other.last_name, True
    elif not kept.name_edited:
        kept.first_name = kept.first_name or other.first_name
        kept.last_name = kept.last_name or other.last_name
    for name in FILLED:
        if not getattr(kept, name) and getattr(other, name):
            setattr(kept, name, getattr(other, name))


def _label(client: Client) -> str:
    return f"#{client.id} {client.full_name}"


def describe(group: Group, dry_run: bool) -> list[str]:
    """What happens to one group, one line per client, said as it will be or was done."""
    number = shown(group.phone, None)
    lines = []
    for other in group.merged:
        orders = len(other.orders)
        lines.append(f'{"Would merge" if dry_run else "Merged"} client {_label(other)} (phone typed '
                     f'"{other.phone_raw}") into {_label(group.kept)}: one buyer, {number}; {orders} '
                     f"order{'s' if orders != 1 else ''} {'to move' if dry_run else 'moved'}.")
    if group.reread and not group.merged:
        was = shown(group.kept.phone, None) or "unreadable"
        lines.append(f'{"Would read" if dry_run else "Read"} the phone of client {_label(group.kept)} '
                     f'("{group.kept.phone_raw}") as {number}, not {was}.')
    return lines


def summary(groups: list[Group]) -> str:
    merged = sum(len(group.merged) for group in groups)
    reread = sum(1 for group in groups if group.reread and not group.merged)
    return (f"merged {merged} client{'s' if merged != 1 else ''} into another, "
            f"read {reread} phone{'s' if reread != 1 else ''} anew")


@click.group("clients")
def clients() -> None:
    """Clients: tidy what older versions left."""


@clients.command("merge-phones")
@click.option("--dry-run", is_flag=True, help="Say what would be merged and change nothing.")
@with_appcontext
def merge_phones(dry_run: bool) -> None:
    """Read every client's phone again as an import does now (the country of the stores its
    orders came from, else PHONE_REGION) and merge the clients that are one buyer."""
    groups = plan(current_app.config["PHONE_REGION"])
    if not groups:
        click.echo("Nothing to merge: every client's phone reads as it did.")
        return
    if dry_run:
        lines = [line for group in groups for line in describe(group, dry_run=True)]
        click.echo("\n".join(lines))
        click.echo(f"Dry run, nothing was changed: it would have {summary(groups)}. "
                   "Run it without --dry-run to do it.")
        return
    lines = [line for group in groups for line in describe(group, dry_run=False)]
    done = summary(groups)
    try:
        apply(groups)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException("A sync changed these clients meanwhile, so nothing was changed. "
                                   "Run the command again.") from None
    click.echo("\n".join(lines))
    click.echo(f"Done: {done}.")
