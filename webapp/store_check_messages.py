"""What a failed live check says in the store wizard (R-CON-4), when Next asks the shop.

The platform errors carry messages written for syncs, read in a store's sync log: "the sync
tries again by itself", "edit the store". In the wizard nothing is saved yet and the person is
on the form, so a retry will not come by itself and there is no store to edit: these errors get
the wizard's own wording here (what happened, what to do now); every other error's message
already fits both places and is shown as it is. The sync log's wording is left alone.

R-SEC-1: a refused address and an unreachable shop are both ``Unreachable`` with the same host
and reason, and nothing here looks further, so they still read the same.
"""
from __future__ import annotations

from webapp.platforms.base import (
    AuthFailed, PlatformError, RateLimited, StoreMoved, TruncatedPayload, Unreachable,
)

AGAIN = "Nothing is saved yet"

SHOPIFY_TOKEN = (
    "Shopify refused this Admin API access token: it is mistyped or belongs to another "
    "shop, or its app lacks the read_orders and read_products scopes. To get a right one, open "
    "the Shopify admin > Settings > Apps and sales channels > Develop apps > your app; under "
    "Configuration give it the read_orders and read_products scopes and install it; then copy "
    "the Admin API access token (it starts with shpat_) from API credentials, paste it here and "
    "press Next again.")
SHOPIFY_APP = (
    "Shopify refused the client ID and secret, or their app lacks the read_orders and "
    "read_products scopes. Copy both from the app's settings in Shopify's Dev Dashboard, check "
    "that the app has those scopes and is installed on this shop, paste them here and press "
    "Next again.")
ANY_ACCESS = ("The shop refused the access you entered. Check it on the platform, type it again "
              "here and press Next again.")


def wizard_message(error: PlatformError, platform: str, credentials: dict[str, str]) -> str:
    """The message step 1 shows for ``error`` raised by the live check of these credentials."""
    if isinstance(error, Unreachable):
        why = f" ({error.reason})" if error.reason else ""
        return (f"Could not reach {error.host or 'the shop'}{why}. {AGAIN}: check that the Website "
                "URL is the shop's own address and that the shop is online (open it in a browser), "
                "then press Next again.")
    if isinstance(error, RateLimited):
        return (f"The shop asked us to wait {error.retry_after:.0f} s before asking again. {AGAIN}: "
                "wait that long, then press Next again.")
    if isinstance(error, TruncatedPayload):
        return (f"The shop's answer was cut off on the way. {AGAIN}: press Next again; if it keeps "
                "happening, ask the shop's host whether its server or a proxy in front of it cuts "
                "answers short.")
    if isinstance(error, StoreMoved):
        return (f"The shop's address redirects to {error.location}. Enter that address as the "
                "Website URL, then press Next again.")
    if isinstance(error, AuthFailed):
        return _refused(error, platform, credentials)
    return error.message


def _refused(error: AuthFailed, platform: str, credentials: dict[str, str]) -> str:
    """Shopify's own messages assume a token that worked once ("revoked… edit the store")."""
    if platform == "shopify":
        by_app = credentials.get("client_id") and credentials.get("client_secret")
        return SHOPIFY_APP if by_app else SHOPIFY_TOKEN
    return ANY_ACCESS if error.message == AuthFailed.default_message else error.message
