"""R-SEC-6: `flask stores add` never takes a shop's secret on its command line.

Choices where the rule leaves room: a field the platform marks secret (Cartum's password,
Shopify's token and client secret, WooCommerce's consumer secret) given as ``--credential
KEY=VALUE`` is refused before anything is sent or saved, with the ways to pass it instead;
non-secret fields (a login, a consumer key, a client id) may stay on the command line. A secret
comes from a hidden prompt (the default when it is missing), from stdin
(``--credentials-from-stdin``: a JSON object or KEY=VALUE lines) or from an environment variable
the operator names (``--credential-env KEY=VARIABLE``).
"""
from __future__ import annotations

import json

from sqlalchemy import func, select

from simulators import woocommerce as woo_sim
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Store

PASSWORD = "cartum-demo"  # the Cartum simulator's administrator password


def add_args(url: str, name: str = "CLI shop", platform: str = "cartum") -> list[str]:
    return ["stores", "add", "--platform", platform, "--name", name, "--url", url,
            "--location", "Main workshop", "--order-type", "Online order", "--guess-statuses"]


def stored(name: str) -> Store | None:
    db.session.remove()
    return db.session.scalar(select(Store).filter_by(name=name))


def test_R_SEC_6_a_secret_on_the_command_line_is_refused_before_anything_is_sent(app, office, redis):
    runner = app.test_cli_runner()
    with serving("cartum", orders=5) as sim:
        refused = runner.invoke(args=[*add_args(sim.url), "--credential", "login=manager",
                                      "--credential", f"password={PASSWORD}"])
        assert sim.requests() == []
    assert refused.exit_code == 2
    assert "password" in refused.output and PASSWORD not in refused.output
    for way in ("--credentials-from-stdin", "--credential-env"):
        assert way in refused.output
    assert db.session.scalar(select(func.count(Store.id))) == 0


def test_R_SEC_6_secrets_come_from_a_hidden_prompt(app, office, redis):
    runner = app.test_cli_runner()
    with serving("cartum", orders=5) as sim:
        added = runner.invoke(args=[*add_args(sim.url), "--credential", "login=manager"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "Password" in added.output and PASSWORD not in added.output  # asked, not echoed
    assert stored("CLI shop").credentials == {"login": "manager", "password": PASSWORD}


def test_R_SEC_6_secrets_come_from_stdin_as_lines_or_json(app, office, redis):
    runner = app.test_cli_runner()
    with serving("cartum", orders=5) as cartum, serving("woocommerce", orders=5) as woo:
        lines = runner.invoke(args=[*add_args(cartum.url), "--credentials-from-stdin"],
                              input=f"login=manager\npassword={PASSWORD}\n")
        as_json = runner.invoke(args=[*add_args(woo.url, "Woo shop", "woocommerce"), "--credentials-from-stdin"],
                                input=json.dumps({"consumer_key": woo_sim.CONSUMER_KEY,
                                                  "consumer_secret": woo_sim.CONSUMER_SECRET}))
    assert lines.exit_code == 0, lines.output
    assert as_json.exit_code == 0, as_json.output
    assert stored("CLI shop").credentials == {"login": "manager", "password": PASSWORD}
    assert stored("Woo shop").credentials["consumer_secret"] == woo_sim.CONSUMER_SECRET
    assert woo_sim.CONSUMER_SECRET not in as_json.output


def test_R_SEC_6_secrets_come_from_a_named_environment_variable(app, office, redis):
    runner = app.test_cli_runner()
    with serving("cartum", orders=5) as sim:
        unset = runner.invoke(args=[*add_args(sim.url), "--credential", "login=manager",
                                    "--credential-env", "password=SHOP_PASSWORD"], env={"SHOP_PASSWORD": None})
        added = runner.invoke(args=[*add_args(sim.url), "--credential", "login=manager",
                                    "--credential-env", "password=SHOP_PASSWORD"], env={"SHOP_PASSWORD": PASSWORD})
    assert unset.exit_code != 0 and "SHOP_PASSWORD" in unset.output and "not set" in unset.output
    assert added.exit_code == 0, added.output
    assert stored("CLI shop").credentials == {"login": "manager", "password": PASSWORD}


def test_R_SEC_6_no_secret_at_all_says_how_to_give_one(app, office, redis):
    """Run from a script with nothing on stdin: an error saying where the secret may come from,
    not a bare "Aborted!"."""
    runner = app.test_cli_runner()
    with serving("cartum", orders=5) as sim:
        result = runner.invoke(args=[*add_args(sim.url), "--credential", "login=manager"], input="")
        assert sim.requests() == []
    assert result.exit_code == 1
    assert "--credentials-from-stdin" in result.output and "Aborted" not in result.output
