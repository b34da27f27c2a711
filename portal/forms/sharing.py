"""Sharing forms: share a device by email, accept a share with its confirmation code."""

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import Length


class ShareForm(FlaskForm):
    # The sharing service gives the wording for empty, invalid and refused addresses.
    email = EmailField("Email of the partner or co-owner", validators=[Length(max=254)])


class AcceptShareForm(FlaskForm):
    code = StringField("Confirmation code", validators=[Length(max=40)])
