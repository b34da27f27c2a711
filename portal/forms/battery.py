"""Battery forms: a replacement for the logbook."""

from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional


class ReplacementForm(FlaskForm):
    replaced_on = DateField("Replaced on", validators=[Optional()])
    sku = StringField("Cartridge SKU", validators=[Length(max=20)], description="As printed on it, such as APCRBC7")
    note = StringField("Note (optional)", validators=[Length(max=200)])
