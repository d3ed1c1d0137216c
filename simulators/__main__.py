"""`python -m simulators <platform> --port P --orders N` serves one simulator on loopback.

Options that are credentials (a password, a token, a consumer secret) should come as a JSON
object on stdin with ``--options-from-stdin``, as `make run` sends them: an ``--option`` is in
the process list for anyone on the machine to read (R-SEC-6).

Its log: each request and the start-up line (INFO) on stdout, warnings and errors (a request
that crashed the simulator) on stderr. `make run` keeps stdout in ``instance/logs/<name>.log``
and shows stderr in the terminal. Request lines are plain text, without terminal colours, and
hide secrets sent in a query string (``common.loggable``).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from werkzeug.serving import WSGIRequestHandler, make_server

from simulators import PLATFORMS, create_app
from simulators.common import loggable


class PlainRequestLog(WSGIRequestHandler):
    """Werkzeug's request line without its colours (a red 400 reads as a failure of the demo,
    where a shop's 400 is often an answer the client asked for) and with secrets hidden."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s" %s %s', loggable(self.requestline), code, size)


def split_logging() -> None:
    """INFO on stdout, WARNING and above on stderr (see the module docstring)."""
    plain = logging.StreamHandler(sys.stdout)
    plain.addFilter(lambda record: record.levelno < logging.WARNING)
    loud = logging.StreamHandler(sys.stderr)
    loud.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (plain, loud):
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("platform", choices=PLATFORMS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--orders", type=int, default=200, help="seeded orders over the last 90 days")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same shop")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="platform option, e.g. basic_plan=1 (Shopify), no_api=1 (Cartum), spare=1, "
                             "hook_flush_seconds=5 (Cartum's webhook cron; see simulators/webhooks.py)")
    parser.add_argument("--options-from-stdin", action="store_true",
                        help='more options as a JSON object on stdin, e.g. {"password": "..."}')
    args = parser.parse_args()
    options = dict(item.split("=", 1) for item in args.option)
    if args.options_from_stdin:
        given = json.load(sys.stdin)
        if not isinstance(given, dict):
            parser.error("--options-from-stdin expects a JSON object")
        options.update({str(key): str(value) for key, value in given.items()})
    split_logging()
    app = create_app(args.platform, orders=args.orders, seed=args.seed, **options)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=PlainRequestLog)
    logging.getLogger("simulators").info("%s simulator serving http://%s:%d/ (its page: /_sim/)",
                                         args.platform, args.host, server.server_port)
    server.serve_forever()  # werkzeug's: a Ctrl-C ends it and closes the socket


if __name__ == "__main__":
    main()
