"""Notification forms: a policy, a maintenance window, the threshold limits."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms import row_id
from portal.services.alerts.event_types import EVENT_TYPES, SEVERITIES


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PolicyForm(FlaskForm):
    # The notifications service gives the wording for missing or invalid values.
    name = StringField("Name", validators=[Length(max=120)])
    description = TextAreaField("Description", validators=[Length(max=500)])
    event_types = MultiCheckboxField("Events", choices=list(EVENT_TYPES.items()))
    severities = MultiCheckboxField("Severities", choices=[(s, s.title()) for s in SEVERITIES])
    email_recipients = TextAreaField("Email recipients", validators=[Length(max=5000)])
    slack_webhook_url = StringField("Slack incoming webhook URL", validators=[Length(max=500)])
    teams_webhook_url = StringField("Microsoft Teams workflow webhook URL", validators=[Length(max=500)])
    webhook_url = StringField("JSON webhook URL", validators=[Length(max=500)])
    enabled = BooleanField("Enabled", default=True)


class MaintenanceForm(FlaskForm):
    device = SelectField("Device", coerce=row_id, validate_choice=False)
    starts_at = DateTimeLocalField("Starts (UTC)", format="%Y-%m-%dT%H:%M")
    ends_at = DateTimeLocalField("Ends (UTC)", format="%Y-%m-%dT%H:%M")
    note = StringField("Note", validators=[Length(max=200)])


class ThresholdForm(FlaskForm):
    load_above_percent = FloatField("Load above (%)", validators=[Optional(), NumberRange(1, 150)])
    runtime_below_min = FloatField("Runtime below (min)", validators=[Optional(), NumberRange(0.5, 600)])
    voltage_low_v = FloatField("Input voltage below (V)", validators=[Optional(), NumberRange(50, 300)])
    voltage_high_v = FloatField("Input voltage above (V)", validators=[Optional(), NumberRange(50, 300)])
    load_hysteresis_percent = FloatField(
        "Load margin (%)", default=5.0, validators=[Optional(), NumberRange(0, 50)]
    )
    runtime_hysteresis_min = FloatField(
        "Runtime margin (min)", default=2.0, validators=[Optional(), NumberRange(0, 50)]
    )
    voltage_hysteresis_v = FloatField(
        "Voltage margin (V)", default=5.0, validators=[Optional(), NumberRange(0, 50)]
    )
