from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from webapp.forms.numbers import MoneyField, QuantityField


class NewOrderForm(FlaskForm):
    location_id = SelectField("Location", coerce=int, validators=[InputRequired(message="Choose a location.")])
    order_type_id = SelectField("Order type", coerce=int, validators=[InputRequired(message="Choose an order type.")])
    client_id = HiddenField()
    first_name = StringField("First name", validators=[Optional(), Length(max=120)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=120)])
    phone = StringField("Phone", validators=[Optional(), Length(max=64)])
    email = EmailField("E-mail", validators=[Optional(), Email(message="This is not an e-mail address."), Length(max=254)])


class CommentForm(FlaskForm):
    text = TextAreaField("Comment", validators=[DataRequired(message="Write something first."), Length(max=4000)])


class StatusForm(FlaskForm):
    status_id = SelectField("Status", coerce=int, validators=[InputRequired()])


class ItemForm(FlaskForm):
    product_id = SelectField("Product", coerce=int, validators=[Optional()])
    name = StringField("Name", validators=[Optional(), Length(max=255)])
    quantity = QuantityField("Quantity", default=Decimal("1"), noun="the quantity", validators=[
        InputRequired(message="Enter a quantity."), NumberRange(min=Decimal("0.001"), message="Quantity must be above zero.")])
    price = MoneyField("Price", noun="the price", validators=[
        InputRequired(message="Enter a price."), NumberRange(min=Decimal("0"), message="Price cannot be negative.")])
    deductible = BooleanField("Deduct from stock now")


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""
