"""Partner forms: order licenses for a customer, assign licenses from an activation code."""

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from portal.services.partners.license_orders import product_choices


class OrderForm(FlaskForm):
    customer_name = StringField("Customer", validators=[Length(max=120)])
    sku = SelectField(
        "Product (SKU)",
        choices=[SelectChoice(sku, label) for sku, label in product_choices()],
        validate_choice=False,
    )
    # A text field so what was typed comes back as typed; the service reads the number.
    quantity = StringField("Quantity", validators=[Length(max=12)])
    po_number = StringField("PO number", validators=[Length(max=60)])
    # The service gives the wording for an empty or invalid address.
    installer_email = EmailField("Installer Email", validators=[Length(max=254)])


class AssignForm(FlaskForm):
    # The licensing service tells empty, mistyped and unknown codes apart; devices are read from the request.
    code = StringField("Activation code", validators=[Length(max=60)])
