from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.forms.numbers import integer_in_column
from webapp.models import GROUP_LABELS, Role


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LocationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter the location's name."), Length(max=80)])
    address = StringField("Address", validators=[Optional(), Length(max=255)])


class StatusForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter the status's name."), Length(max=64)])
    color = StringField("Colour", default="#2563eb", validators=[
        Regexp(r"^#[0-9a-fA-F]{6}$", message="Pick a colour (#rrggbb).")])
    group = SelectField("Group", choices=[(g.value, label) for g, label in GROUP_LABELS.items()])
    position = IntegerField("Order in lists", default=0, validators=[Optional(), integer_in_column])


class OrderTypeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter the order type's name."), Length(max=64)])
    initial_status_id = SelectField("Initial status", coerce=int)


class EmployeeForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired(message="Enter the employee's name."), Length(max=120)])
    login = StringField("Login", validators=[DataRequired(message="Choose a login."), Length(max=64),
                                             Regexp(r"^[\w.@+-]+$", message="Use letters, digits and . @ + - _ only.")])
    password = PasswordField("Password", validators=[Optional(), Length(min=8, message="At least 8 characters.")])
    role = SelectField("Role", choices=[(r.value, r.label) for r in Role])
    active = BooleanField("Active (may sign in)", default=True)
    location_ids = MultiCheckboxField("Locations", coerce=int)
    can_add_without_deduction = BooleanField('Can add products without deduction')
    can_write_off = BooleanField("Can write off products", default=True)
