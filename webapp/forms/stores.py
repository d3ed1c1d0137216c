"""The store wizard's forms: step 1 (the store and its credentials, R-CON-2/3) and step 2
(the status mapping, R-CON-5). Credential fields differ per platform, so the step-1 form
class is built for the chosen platform from its ``PlatformRules.credential_fields``."""
from __future__ import annotations

import functools
import zoneinfo

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from webapp.forms.settings import MultiCheckboxField
from webapp.phones import country_choices, country_name
from webapp.platforms import PLATFORMS
from webapp.platforms.base import PlatformRules, time_zone_name
from webapp.store_setup import SHOP_COUNTRY

NAME_MAX = 64  # R-CON-2
IDENTIFY_LABELS = {"name": "Name", "article": "Article number", "sku": "SKU", "id": "Platform product ID"}
LANGUAGES = [("", "The shop's default"), ("en", "English"), ("ua", "Ukrainian"), ("ro", "Romanian"),
             ("de", "German"), ("pl", "Polish"), ("ru", "Russian")]
CREDENTIAL_PREFIX = "credential_"
KEPT_PLACEHOLDER = "•••••••• kept"
KEPT_HELP = "Kept from what you typed, and not shown: leave it empty to use it, or type a new one."


class StoreForm(FlaskForm):
    """Step 1 without the credentials (``store_form`` adds the platform's)."""

    enabled = BooleanField("Integration enabled", default=True)
    platform = SelectField("Platform", choices=[(key, adapter.title) for key, adapter in PLATFORMS.items()])
    name = StringField("Store name", validators=[
        DataRequired(message="Enter a name for the store, such as the shop's name."),
        Length(max=NAME_MAX, message=f"The store name can have at most {NAME_MAX} characters; shorten it.")])
    url = StringField("Website URL", validators=[DataRequired(message="Enter the shop's web address.")])
    location_id = SelectField("Location", coerce=int, validators=[
        DataRequired(message="Choose the location the store's orders go to.")])
    order_type_id = SelectField("Order type", coerce=int, validators=[
        DataRequired(message="Choose the order type of the imported orders.")])
    language = SelectField("Language", choices=LANGUAGES, validators=[Optional()],
                           description="The language of product names and descriptions taken from the shop.")
    identify_by = SelectField("Identify products by", description=(
        "How a product in an order is recognised as one already in the catalogue, so it is not added twice."))
    managers = RadioField("Managers", choices=[("all", "All"), ("selected", "Selected")], default="all")
    manager_ids = MultiCheckboxField("Selected managers", coerce=int)
    # Names what this wizard keeps server-side (store_setup.keep_typed): never a secret itself.
    draft = HiddenField()

    def credential_fields(self) -> list:
        return [field for field in self if field.name.startswith(CREDENTIAL_PREFIX)]

    def secret_names(self) -> set[str]:
        return {field.name.removeprefix(CREDENTIAL_PREFIX) for field in self.credential_fields()
                if field.type == "PasswordField"}

    def mark_kept(self, names) -> None:
        """Say on each secret field in ``names`` that its value is kept, though not shown (R-CON-8)."""
        for field in self.credential_fields():
            if field.type == "PasswordField" and field.name.removeprefix(CREDENTIAL_PREFIX) in names:
                field.render_kw = {**(field.render_kw or {}), "placeholder": KEPT_PLACEHOLDER}
                field.description = f"{KEPT_HELP} {field.description or ''}".strip()

    def credentials(self) -> dict[str, str]:
        """What was typed into the credential fields; blank ones are left out."""
        return {field.name.removeprefix(CREDENTIAL_PREFIX): field.data.strip()
                for field in self.credential_fields() if field.data and field.data.strip()}


def store_form(platform: str, **kwargs) -> StoreForm:
    """Step 1 for ``platform``: its credential fields and its identify-by choices.

    Secret fields are password inputs that are never filled back in (R-CON-8); when editing,
    all credential fields may stay blank, which keeps what is saved (R-CON-7).
    """
    rules = PLATFORMS[platform].RULES

    class PlatformStoreForm(StoreForm):
        pass

    for spec in rules.credential_fields:
        field_class = PasswordField if spec.secret else StringField
        setattr(PlatformStoreForm, CREDENTIAL_PREFIX + spec.name,
                field_class(spec.label, description=spec.help, validators=[Optional(), Length(max=500)]))
    if rules.times_without_offset:  # R-IMP-8: only where the platform's times carry no offset
        PlatformStoreForm.timezone = StringField("Time zone", default=rules.default_timezone,
                                                 validators=[known_time_zone], description=(
            f"Where the shop is: {PLATFORMS[platform].title} writes its order times without a time zone, so "
            f"they are read in this one. Region/City, such as {rules.default_timezone}."))
    PlatformStoreForm.country = phone_country_field(platform)  # R-CLI-5
    form = PlatformStoreForm(**kwargs)
    if form.country.data not in dict(form.country.choices):  # another platform's choice (htmx swap)
        form.country.data = form.country.default
    form.timezone_choice = rules.times_without_offset
    form.time_zones = time_zones() if rules.times_without_offset else []
    form.identify_by.choices = [(key, IDENTIFY_LABELS.get(key, key)) for key in rules.identify_by]
    form.url.description = rules.url_help
    form.platform.data = platform
    form.language_choice = rules.language_choice
    return form


def phone_country_field(platform: str) -> SelectField:
    """R-CLI-5: the store's country, which reads phones written without a country code when the
    order names no country. Preselected: the platform's (Cartum: Ukraine), else "the shop's own",
    which ``store_setup.check`` asks the shop for on Next (``SHOP_COUNTRY``)."""
    rules, title = PLATFORMS[platform].RULES, PLATFORMS[platform].title
    region = current_app.config["PHONE_REGION"]
    choices = [] if rules.default_country else [(SHOP_COUNTRY, "The shop's own country (asked on Next)")]
    choices += [("", f"None: the back office's setting ({country_name(region)})"), *country_choices()]
    return SelectField("Country of the buyers' phones", choices=choices,
                       default=rules.default_country or SHOP_COUNTRY, description=(
        "A phone written without its country code, such as 050 256 47 78, is read as a number of this "
        f"country when the {title} order does not name the buyer's country, so each buyer stays one client."))


def known_time_zone(form, field) -> None:
    """R-IMP-8: an IANA zone (tidied, e.g. "utc" -> "UTC"), or empty for the platform's default."""
    try:
        field.data = time_zone_name(field.data)
    except ValueError as error:
        raise ValidationError(str(error)) from None


@functools.cache
def time_zones() -> list[str]:
    """Every IANA zone name, for the time-zone field's suggestions."""
    return sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/"))


def missing_credentials(rules: PlatformRules, given: dict[str, str]) -> list[str]:
    """Labels of the credential fields the platform needs and are blank (R-CON-4).

    Shopify takes an access token *or* a client ID with its secret; the other platforms
    need every field.
    """
    names = {spec.name: spec.label for spec in rules.credential_fields}
    if "access_token" in names and "client_id" in names:
        if given.get("access_token") or (given.get("client_id") and given.get("client_secret")):
            return []
        return [names["access_token"]]
    return [label for name, label in names.items() if not given.get(name)]


class ConfirmForm(FlaskForm):
    """A button with CSRF only (delete, sync now)."""
