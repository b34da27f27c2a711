"""Quote forms: from devices shared with the partner, or from a customer's MyRenewals file."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField, SelectMultipleField, StringField
from wtforms.validators import Length, NumberRange, Optional

from portal.forms import row_id


class DevicesQuoteForm(FlaskForm):
    customer_name = StringField("Customer name on the quote", validators=[Optional(), Length(max=120)])
    # Choices are the devices shared with the partner; the quotes service refuses any other id.
    device = SelectMultipleField("Devices", coerce=row_id, validate_choice=False)


class UploadQuoteForm(FlaskForm):
    customer_name = StringField("Customer name on the quote", validators=[Optional(), Length(max=120)])
    # No validators: the upload parser names the problem (type, encoding, columns, row).
    file = FileField("MyRenewals file (CSV or XLSX)")


class CalculatorForm(FlaskForm):
    qty = IntegerField(
        "Quantity", validators=[NumberRange(min=1, max=10000, message="Enter a quantity from 1 to 10,000.")]
    )

    class Meta:
        csrf = False  # a read-only GET form
