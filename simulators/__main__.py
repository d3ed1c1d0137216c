"""`python -m simulators <platform> --port P --orders N` serves one simulator on loopback."""
from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from simulators import PLATFORMS, create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("platform", choices=PLATFORMS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--orders", type=int, default=200, help="seeded orders over the last 90 days")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same shop")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="platform option, e.g. basic_plan=1 (Shopify) or no_api=1 (Cartum)")
    args = parser.parse_args()
    options = dict(item.split("=", 1) for item in args.option)
    app = create_app(args.platform, orders=args.orders, seed=args.seed, **options)
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
