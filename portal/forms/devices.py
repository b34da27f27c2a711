"""Device forms: claiming, and the settings of remote commands."""

from flask_wtf import FlaskForm
from wtforms import StringField


class ClaimForm(FlaskForm):
    # Checks live in the claiming service, which knows the wording for each case.
    serial = StringField("Serial number")
    code = StringField("Registration code")
