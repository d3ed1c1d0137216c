from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import Email, Length, Optional


class ClientForm(FlaskForm):
    first_name = StringField("First name", validators=[Length(max=120)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=120)])
    phone = StringField("Phone", validators=[Optional(), Length(max=64)])
    email = EmailField("E-mail", validators=[Optional(), Email(message="This is not an e-mail address."), Length(max=254)])
    address = TextAreaField("Address", validators=[Optional(), Length(max=500)])
