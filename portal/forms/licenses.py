"""Activation-code forms."""

from flask_wtf import FlaskForm
from wtforms import StringField


class VerifyCodeForm(FlaskForm):
    # No validators: the licensing service tells empty, mistyped and unknown codes apart.
    code = StringField("Activation code")
