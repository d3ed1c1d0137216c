"""`flask platforms preview PLATFORM FILE`: what Orderdock would read from a saved response."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from webapp.platforms import PLATFORMS
from webapp.platforms.base import PlatformError

platforms = click.Group("platforms", help="Inspect what the platform adapters read.")


@platforms.command("preview")
@click.argument("platform", type=click.Choice(sorted(PLATFORMS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="adapter option, e.g. timezone=Europe/Kyiv or language=ua")
@click.option("--raw/--no-raw", default=False, help="include each order's raw payload")
def preview(platform: str, file: Path, options: tuple[str, ...], raw: bool) -> None:
    """Print, as JSON, the normalized orders in FILE (a list envelope or a single order)."""
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as error:
        raise click.ClickException(f"{file} is not JSON: {error}") from None
    settings = dict(option.split("=", 1) for option in options if "=" in option)
    try:
        orders = PLATFORMS[platform].preview(payload, settings)
    except (PlatformError, ValueError, TypeError) as error:
        raise click.ClickException(f"{file} could not be read as {platform} orders: {error}") from None
    click.echo(json.dumps([_plain(order, raw) for order in orders], indent=2, ensure_ascii=False))


def _plain(order, raw: bool) -> dict[str, Any]:
    data = dataclasses.asdict(order)
    if not raw:
        data.pop("raw", None)
    data["total"] = order.total
    return json.loads(json.dumps(data, default=_json_value))


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot show {type(value).__name__}")
