"""`python -m simulators <platform> --port P --orders N` serves one simulator on loopback.

Options that are credentials (a password, a token, a consumer secret) should come as a JSON
object on stdin with ``--options-from-stdin``, as `make run` sends them: an ``--option`` is in
the process list for anyone on the machine to read (R-SEC-6).
"""
from __future__ import annotations

import argparse
import json
import sys

from werkzeug.serving import run_simple

from simulators import PLATFORMS, create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("platform", choices=PLATFORMS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--orders", type=int, default=200, help="seeded orders over the last 90 days")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same shop")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="platform option, e.g. basic_plan=1 (Shopify) or no_api=1 (Cartum)")
    parser.add_argument("--options-from-stdin", action="store_true",
                        help='more options as a JSON object on stdin, e.g. {"password": "..."}')
    args = parser.parse_args()
    options = dict(item.split("=", 1) for item in args.option)
    if args.options_from_stdin:
        given = json.load(sys.stdin)
        if not isinstance(given, dict):
            parser.error("--options-from-stdin expects a JSON object")
        options.update({str(key): str(value) for key, value in given.items()})
    app = create_app(args.platform, orders=args.orders, seed=args.seed, **options)
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
