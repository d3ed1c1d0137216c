"""The store wizard's forms: step 1 (the store and its credentials, R-CON-2/3) and step 2
(the status mapping, R-CON-5). Credential fields differ per platform, so the step-1 form
class is built for the chosen platform from its ``PlatformRules.credential_fields``."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from webapp.forms.settings import MultiCheckboxField
from webapp.platforms import PLATFORMS
from webapp.platforms.base import PlatformRules

NAME_MAX = 64  # R-CON-2
IDENTIFY_LABELS = {"name": "Name", "article": "Article number", "sku": "SKU", "id": "Platform product ID"}
LANGUAGES = [("", "The shop's default"), ("en", "English"), ("ua", "Ukrainian"), ("ro", "Romanian"),
             ("de", "German"), ("pl", "Polish"), ("ru", "Russian")]
CREDENTIAL_PREFIX = "credential_"


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

    def credential_fields(self) -> list:
        return [field for field in self if field.name.startswith(CREDENTIAL_PREFIX)]

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
    form = PlatformStoreForm(**kwargs)
    form.identify_by.choices = [(key, IDENTIFY_LABELS.get(key, key)) for key in rules.identify_by]
    form.url.description = rules.url_help
    form.platform.data = platform
    form.language_choice = rules.language_choice
    return form


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
