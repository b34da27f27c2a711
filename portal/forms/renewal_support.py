"""Renewal Support: invite a preferred reseller by email."""

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import Length


class InviteResellerForm(FlaskForm):
    email = EmailField("Reseller's email address", validators=[Length(max=254)])
