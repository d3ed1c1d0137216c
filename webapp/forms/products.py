from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from webapp.forms.numbers import QuantityField


class ProductForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter the product's name."), Length(max=255)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=10000)])
    sku = StringField("SKU", validators=[Optional(), Length(max=64)])
    code = StringField("Code", validators=[Optional(), Length(max=64)])
    item_number = StringField("Item number", validators=[Optional(), Length(max=64)])
    category_id = SelectField("Category", coerce=int, validators=[Optional()])
    new_category = StringField("…or a new category", validators=[Optional(), Length(max=120)])
    stock = QuantityField("In stock", default=Decimal("0"), noun="the stock",
                         validators=[Optional(), NumberRange(min=Decimal("-999999"), max=Decimal("999999"))])
