"""Buy online: card details (the license choices are per-device select fields read by the view)."""

from flask_wtf import FlaskForm
from wtforms import StringField


class CardForm(FlaskForm):
    # Checked by portal.services.licensing.payments.parse_card, which knows each field's message.
    card_holder = StringField("Name on card")
    card_number = StringField("Card number")
    card_expiry = StringField("Expiry (MM/YY)")
    card_cvc = StringField("Security code")
