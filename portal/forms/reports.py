"""Report forms: the outage report's period (a GET form, so the URL can be bookmarked and shared)."""

from flask_wtf import FlaskForm
from wtforms import DateField


class OutagePeriodForm(FlaskForm):
    # No validators: the outages service checks order, span and future dates with readable messages.
    start = DateField("From", format="%Y-%m-%d")
    end = DateField("To (inclusive)", format="%Y-%m-%d")

    class Meta:
        csrf = False  # a read-only GET form
