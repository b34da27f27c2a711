"""NUT bridge forms: a new bridge, and claiming one of its UPSes."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField


class NewBridgeForm(FlaskForm):
    # The service checks name and site, with the wording for each case.
    name = StringField("Bridge name")
    site = StringField("Site")


class ClaimBridgedForm(FlaskForm):
    device = HiddenField()
