"""Gunicorn's logger with the webhook token masked (issue 15, R-HOOK-2).

A webhook address is ``/hooks/<store token>/<platform>``, and for Cartum, which signs nothing,
that token is the store's only proof: whoever reads it can send deliveries as the shop. So it
never reaches a log. Gunicorn writes the request line, the path and any header or environ value
(``%(r)s``, ``%(U)s``, ``{raw_uri}e``, a Referer ...) into its access log, and the address into
its error log when a request fails; every record of both goes through one filter that puts
``[token]`` in the token's place. Used by deploy/gunicorn.conf.py and by `make run`'s web process
(scripts/run.py): ``--logger-class webapp.gunicorn_logging.HookTokenLogger``.

nginx, in front, masks it in its own access log (deploy/nginx/orderdock.conf).
"""
from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

MASK = "[token]"
# "/hooks/<token>" however the client spelt the slashes or the word (%2F, %2f, HOOKS): WSGI
# decodes the path before the app routes it, so each of those spellings reaches the webhook view.
HOOK_TOKEN = re.compile(r"(?i)((?:/|%2f)hooks(?:/|%2f)+)[^/?#\s\"']+")


def mask_hook_tokens(text: str) -> str:
    """``text`` with every webhook token replaced by ``[token]``."""
    return HOOK_TOKEN.sub(lambda match: match.group(1) + MASK, text)


class MaskHookTokens(logging.Filter):
    """Formats the record once and keeps the masked text when the token was in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is left to logging's own report
            return True
        masked = mask_hook_tokens(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class HookTokenLogger(Logger):
    """gunicorn.glogging.Logger whose access and error logs never show a webhook token."""

    def setup(self, cfg) -> None:
        super().setup(cfg)  # run again on a configuration reload (SIGHUP): one filter each time
        for log in (self.error_log, self.access_log):
            for old in [f for f in log.filters if isinstance(f, MaskHookTokens)]:
                log.removeFilter(old)
            log.addFilter(MaskHookTokens())
