"""Lab console forms (lab mode only): each action of the console is one small form."""

from flask_wtf import FlaskForm
from wtforms import DecimalField, HiddenField, IntegerField, SelectField, SelectMultipleField
from wtforms.validators import InputRequired, NumberRange, Optional

from catalog.ups_models import CATALOG
from portal.services.lab.console import MAX_ADD, QUICK_ACTIONS, SPEEDS, TESTS


class AddDevicesForm(FlaskForm):
    model = SelectField("Model", choices=[("", "Mixed models")] + [(m, m) for m in sorted(CATALOG)], default="")
    count = IntegerField("How many", default=3, validators=[InputRequired("Say how many devices."), NumberRange(1, MAX_ADD, f"Add between 1 and {MAX_ADD} devices at a time.")])
    seed = IntegerField("Seed", default=1, validators=[InputRequired("Give a seed: a whole number."), NumberRange(0, 2**31, "The seed is a whole number from 0 to 2147483648.")])


class SelectionForm(FlaskForm):
    # Free-form: the serials come from the fleet, which checks them (an unknown one is a clear message).
    serials = SelectMultipleField("Devices", validate_choice=False)
    scope = HiddenField(default="selection")  # "all": the whole fleet


class RunForm(SelectionForm):
    action = SelectField("Action", validate_choice=False)  # a quick action or scenario:<file>; the service checks
    years = DecimalField("Years", default=4, places=1, validators=[Optional(), NumberRange(0.1, 20, "Age the battery by 0.1 to 20 years.")])
    temp_c = DecimalField("Temperature (°C)", default=45, places=0, validators=[Optional(), NumberRange(30, 70, "A heat wave is between 30 and 70 °C.")])
    minutes = DecimalField("Minutes (empty: until restored)", places=0, validators=[Optional(), NumberRange(1, 7 * 24 * 60, "Give a duration between 1 minute and 7 days, or leave it empty.")])


class TestForm(SelectionForm):
    test = SelectField("Test", choices=[(key, label) for key, (_, label) in TESTS.items()])


class SpeedForm(FlaskForm):
    speed = SelectField("Speed", choices=[(str(s), f"×{s}") for s in SPEEDS], validate_choice=True)


class StopRunForm(FlaskForm):
    pass


QUICK_CHOICES = [(key, label) for key, (label, _) in QUICK_ACTIONS.items()]
