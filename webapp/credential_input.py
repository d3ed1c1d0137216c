"""Where `flask stores add` takes a shop's credentials from (R-SEC-6): never a secret from the
command line, where the process list and the shell history would keep it.

A field the platform marks secret (``CredentialField.secret``) comes from a hidden prompt, from
stdin (``--credentials-from-stdin``: a JSON object, or KEY=VALUE lines) or from an environment
variable the operator names (``--credential-env KEY=VARIABLE``). Non-secret fields (a login, a
consumer key, a client id) may also come as ``--credential KEY=VALUE``. No message here holds a
value: they name the field, the variable or the line.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

import click

from webapp.forms.stores import missing_credentials
from webapp.platforms.base import PlatformRules

WAYS = ("leave it out to be asked for it (the typing is hidden), or pass it on stdin with "
        "--credentials-from-stdin (KEY=VALUE lines or a JSON object), or from an environment variable "
        "with --credential-env KEY=VARIABLE")


def refuse_secrets_in_argv(rules: PlatformRules, given: Mapping[str, str]) -> None:
    """A usage error naming each secret field given on the command line, and the other ways."""
    secret = sorted(name for name in given if name in _secret_names(rules))
    if secret:
        raise click.BadParameter(
            f"{', '.join(secret)} is secret: on the command line it shows in the process list and the shell "
            f"history, so it was not used (change it if it was real). Instead, {WAYS}.",
            param_hint="--credential")


def gather(rules: PlatformRules, argv: Mapping[str, str], env_names: Mapping[str, str],
           from_stdin: bool) -> dict[str, str]:
    """The credentials from every source asked for; a missing secret is prompted for unless
    stdin was the source. A field given twice is an error rather than a silent choice."""
    credentials = dict(argv)
    _merge(credentials, _from_env(env_names), "--credential-env")
    if from_stdin:
        _merge(credentials, _from_stdin(sys.stdin.read()), "stdin")
    else:
        _prompt_missing(rules, credentials)
    return credentials


def _secret_names(rules: PlatformRules) -> set[str]:
    return {spec.name for spec in rules.credential_fields if spec.secret}


def _merge(into: dict[str, str], more: Mapping[str, str], source: str) -> None:
    twice = sorted(set(into) & set(more))
    if twice:
        raise click.UsageError(f"{', '.join(twice)} is given twice (also from {source}); give each field once.")
    into.update(more)


def _from_env(names: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for key, variable in names.items():
        value = os.environ.get(variable)
        if not value:
            raise click.UsageError(f"The environment variable {variable}, named for {key} by --credential-env, "
                                   "is not set or empty; export it first, or leave --credential-env out to be "
                                   "asked for the value.")
        values[key] = value
    return values


def _from_stdin(text: str) -> dict[str, str]:
    """A JSON object of strings, or KEY=VALUE lines (blank lines and #-comments skipped)."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise click.UsageError("stdin starts with { but is not a JSON object; send a JSON object of "
                                   "strings or KEY=VALUE lines.") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise click.UsageError("The JSON object on stdin must map each credential name to a string.")
        return {str(k).strip(): v for k, v in data.items()}
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"Line {number} of stdin is not KEY=VALUE.")  # the line may hold a secret
        values[key.strip()] = value
    return values


def _prompt_missing(rules: PlatformRules, credentials: dict[str, str]) -> None:
    """Ask for each secret field not given, hidden, until the platform has what it needs (Shopify
    takes a token or a client secret; a blank answer moves on to the next field)."""
    for spec in rules.credential_fields:
        if not spec.secret or spec.name in credentials or not missing_credentials(rules, credentials):
            continue
        try:
            value = click.prompt(spec.label, hide_input=True, default="", show_default=False)
        except click.Abort:  # end of input (a script) or Ctrl-C
            raise click.ClickException(f"No {spec.label.lower()} was typed. Run the command in a terminal to be "
                                       "asked for it, or pass it on stdin with --credentials-from-stdin, or from "
                                       "an environment variable with --credential-env KEY=VARIABLE.") from None
        if value:
            credentials[spec.name] = value
