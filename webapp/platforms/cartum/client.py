"""Cartum's HTTP API: the token, the ``status`` envelope, and typed errors.

Role in ``platforms/``: the *adapter* half of the Cartum package that talks (``mapping.py``
translates, ``__init__.py`` runs the flow). Facts from ``shared/platforms/cartum.md``:

* every function is ``POST <shop>/api/<function>/`` with a JSON body (A.1);
* ``auth`` takes ``login`` + ``password`` and gives a 32-character token that lives 600 s;
  every other call carries it *in the body* as ``"token"`` (A.2). We renew it
  ``refresh_margin`` seconds before it ends and, when the shop still says ``UNAUTHORIZED`` /
  ``AUTHORIZATION_ERROR`` (or HTTP 401), authenticate again **once** and repeat the call;
* answers are ``{"status": ..., "response": ...}`` and errors usually come with HTTP 200,
  so the status is checked, not the HTTP code. ``OK``, ``EMPTY`` and ``WARNING`` are
  success (the caller reads ``WARNING``'s per-record log);
* a shop whose plan has no API answers ``auth`` with HTTP 404 or an HTML page
  -> ``ApiNotAvailable`` (R-CON-4); ``ERROR`` from ``auth`` is a wrong login or password
  -> ``AuthFailed``.

Transport failures (5xx, timeouts, 429, redirects) are ``PlatformHttp``'s: it retries and
raises ``Unreachable`` / ``RateLimited`` / ``StoreMoved``. The password and the token are
never logged and never put in an error message; the platform's own messages are cut short
and scrubbed of both before they are shown.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from webapp.platforms.base import (
    ApiNotAvailable, AuthFailed, BadPayload, PlatformError, clean_text, origin,
)
from webapp.platforms.http import read_json

log = logging.getLogger(__name__)

SUCCESS = frozenset({"OK", "EMPTY", "WARNING"})
UNAUTHORIZED = frozenset({"UNAUTHORIZED", "AUTHORIZATION_ERROR"})
UNDEFINED_FUNCTION = "UNDEFINED_FUNCTION"
TRANSIENT = frozenset({"EXCEPTION", "HTTP_ERROR"})
"""Statuses that describe a failure inside the shop, not in our request: try again later."""

Send = Callable[..., requests.Response]


class FunctionUnavailable(ApiNotAvailable):
    """The shop answered ``UNDEFINED_FUNCTION``: its Cartum version lacks this function.

    A subclass of ``ApiNotAvailable`` so that callers who do not expect it still stop with
    a message an employee understands; ``statuses()`` catches it and falls back.
    """

    def __init__(self, function: str) -> None:
        self.function = function
        super().__init__(f"This shop's Cartum version does not offer the API function "
                         f"{function!r}. Ask Cartum support to update the shop, then try again.")


@dataclass(frozen=True)
class Envelope:
    """A successful answer: ``status`` is OK, EMPTY or WARNING; ``response`` as sent."""

    status: str
    response: Any

    def get(self, key: str, default: Any = None) -> Any:
        """``response[key]``, tolerating the ``[]`` Cartum sends for an empty response."""
        return self.response.get(key, default) if isinstance(self.response, Mapping) else default


class CartumClient:
    """One shop's API session: the token lives here, one per adapter instance.

    ``send(method, url, **kwargs)`` is the adapter's ``Platform.request`` (the shared HTTP
    layer with the shop's request budget). ``token_lifetime`` and ``refresh_margin`` are
    public so tests can shorten them; ``clock`` is a monotonic clock.
    """

    token_lifetime: float = 600.0
    refresh_margin: float = 30.0

    def __init__(self, shop_url: str, login: str, password: str, send: Send, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api_url = f"{origin(shop_url)}/api"
        self._login = clean_text(login)
        self._password = password or ""
        self._send = send
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:
        return f"<CartumClient {self.api_url}>"  # never the login, password or token

    # --- auth -------------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Get a fresh token (``auth``). Raises AuthFailed, ApiNotAvailable, BadPayload, ..."""
        if not self._login or not self._password:
            raise AuthFailed("Enter the Cartum login and password of an administrator.")
        started = self._clock()
        response = self._post("auth", {"login": self._login, "password": self._password})
        answer = self._envelope("auth", response, is_auth=True)
        token = clean_text(answer.get("token")) if answer.status == "OK" else ""
        if answer.status in UNAUTHORIZED or answer.status == "ERROR":
            raise AuthFailed(self._auth_message(answer))
        if answer.status == UNDEFINED_FUNCTION:
            raise ApiNotAvailable()
        if not token:
            self._checked("auth", answer)  # EXCEPTION and the like: the shop's own failure
            raise BadPayload(f"The shop answered {answer.status} to the login instead of a "
                             "token. Check the store's Website URL.")
        self._token = token
        self._renew_at = started + max(0.0, self.token_lifetime - self.refresh_margin)
        log.info("cartum %s: signed in", self.api_url)

    def _auth_message(self, answer: Envelope) -> str:
        said = self._platform_message(answer.response)
        shop = f' (the shop said: "{said}")' if said else ""
        return ("Cartum refused the login or password" + shop + ". Use the username from the "
                "shop's Settings > Administrators (not the e-mail) and that user's password.")

    def _valid_token(self) -> str:
        if self._token is None or self._clock() >= self._renew_at:
            self.authenticate()
        assert self._token is not None
        return self._token

    # --- calls ------------------------------------------------------------------------------

    def call(self, function: str, payload: Mapping[str, Any] | None = None, *,
             retry: bool = True) -> Envelope:
        """Call ``function`` with the token; return its OK / EMPTY / WARNING envelope.

        ``retry=False`` sends once even on a 5xx or a timeout (for ``orders/update``); a
        call refused as ``UNAUTHORIZED`` was not carried out, so it is always repeated once
        after signing in again.
        """
        body = dict(payload or {})
        answer = self._call_once(function, body, retry)
        if answer.status in UNAUTHORIZED:
            log.info("cartum %s: token refused on %s; signing in again", self.api_url, function)
            self._token = None
            answer = self._call_once(function, body, retry)
            if answer.status in UNAUTHORIZED:
                raise AuthFailed("Cartum accepted the login but then refused its session twice. "
                                 "Check that the user still exists and has API rights in the "
                                 "shop's Settings > Administrators.")
        return self._checked(function, answer)

    def call_unwrapped(self, function: str, payload: Mapping[str, Any]) -> tuple[int, Any]:
        """(HTTP status, JSON or None) of a function that answers outside the envelope
        (``hooks/subscribe`` and ``hooks/unSubscribe``, fact sheet A.7), sent once. A refused
        token still answers in the envelope: signed in again and sent once more."""
        for attempt in (1, 2):
            response = self._post(function, {**payload, "token": self._valid_token()}, retry=False)
            if response.status_code == 404 and _is_html(response):
                raise ApiNotAvailable()
            try:
                data = response.json() if response.content.strip() else None
            except ValueError:
                raise BadPayload(f"The shop's answer to {function!r} is not JSON. Check the store's "
                                 "Website URL.") from None
            status = data.get("status") if isinstance(data, Mapping) else None
            refused = response.status_code == 401 or (isinstance(status, str) and status.upper() in UNAUTHORIZED)
            if not refused:
                return response.status_code, data
            self._token = None
        raise AuthFailed("Cartum accepted the login but then refused its session twice. Check that the user "
                         "still exists and has API rights in the shop's Settings > Administrators.")

    def _call_once(self, function: str, body: dict[str, Any], retry: bool) -> Envelope:
        response = self._post(function, {**body, "token": self._valid_token()}, retry=retry)
        return self._envelope(function, response)

    def _post(self, function: str, body: Mapping[str, Any], retry: bool = True) -> requests.Response:
        return self._send("POST", f"{self.api_url}/{function}/", json=body, retry=retry)

    def _envelope(self, function: str, response: requests.Response, *,
                  is_auth: bool = False) -> Envelope:
        """The HTTP answer as an envelope; HTTP-level refusals become typed errors."""
        code = response.status_code
        if code == 404 or (is_auth and _is_html(response)):
            raise ApiNotAvailable()  # R-CON-4: no API module on this shop's plan
        if code == 401:
            if is_auth:
                raise AuthFailed(self._auth_message(Envelope("UNAUTHORIZED", None)))
            return Envelope("UNAUTHORIZED", None)
        if code == 403:
            raise AuthFailed("The shop refused access to its API (HTTP 403). Check that the "
                             "Cartum user has API rights, and that no firewall or bot protection "
                             "in front of the shop blocks the back office's server.")
        data = read_json(response)
        if not isinstance(data, Mapping) or not isinstance(data.get("status"), str):
            raise BadPayload(f"The shop's answer to {function!r} is not Cartum API data. Check "
                             "the store's Website URL.")
        if code >= 400:
            raise PlatformError(f"The shop answered HTTP {code} to {function!r}: "
                                f"{self._platform_message(data.get('response')) or 'no reason given'}.")
        return Envelope(data["status"].strip().upper(), data.get("response"))

    def _checked(self, function: str, answer: Envelope) -> Envelope:
        if answer.status in SUCCESS:
            return answer
        if answer.status == UNDEFINED_FUNCTION:
            raise FunctionUnavailable(function)
        said = self._platform_message(answer.response) or "no reason given"
        error = PlatformError(f"The shop's API answered {answer.status} to {function!r}: {said}. "
                              "Try again later; if it keeps happening, contact Cartum support.")
        error.retryable = answer.status in TRANSIENT
        log.warning("cartum %s: %s answered %s", self.api_url, function, answer.status)
        raise error

    def _platform_message(self, response: Any) -> str:
        """The shop's own reason, short and with our secrets scrubbed out."""
        text = ""
        if isinstance(response, Mapping):
            text = clean_text(response.get("message") or response.get("messages") or "")
        elif isinstance(response, str):
            text = clean_text(response)
        for secret in (self._password, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text[:200]


def _is_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.content[:200].lstrip().startswith(b"<")
