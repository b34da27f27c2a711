"""Ownership transfer form: the receiving user's email address and an optional note."""

from flask_wtf import FlaskForm
from wtforms import EmailField, TextAreaField
from wtforms.validators import Length


class TransferForm(FlaskForm):
    # The transfer service gives the wording for empty, unknown, own-company and refused addresses.
    email = EmailField("Email of a user of the receiving company", validators=[Length(max=254)])
    note = TextAreaField("Note for the receiving company (optional)", validators=[Length(max=500)])
