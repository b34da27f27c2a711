"""Device forms: claiming, and the settings of remote commands."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, StringField


class ClaimForm(FlaskForm):
    # Checks live in the claiming service, which knows the wording for each case.
    serial = StringField("Serial number")
    code = StringField("Registration code")


class LabelsForm(FlaskForm):
    # Lengths and characters are checked by the labels service, which words each case.
    name = StringField("Name")
    location = StringField("Location")
    site = StringField("Site")


class BulkSiteForm(FlaskForm):
    site = StringField("Site")
    location = StringField("Location")


class LabelsCsvForm(FlaskForm):
    # No validators: the labels service names the problem (size, encoding, header, line).
    file = FileField("CSV file (serial,name,site)")


class LabelsApplyForm(FlaskForm):
    csv_text = HiddenField()
