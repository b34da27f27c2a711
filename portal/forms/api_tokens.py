"""The personal access token form: a name and its scopes."""

from flask_wtf import FlaskForm
from wtforms import StringField

from portal.forms.notifications import MultiCheckboxField
from portal.services.api.tokens import Scope


class NewTokenForm(FlaskForm):
    # The tokens service words every refusal (no name, no scope, unknown scope).
    name = StringField("Token name")
    scopes = MultiCheckboxField(
        "Scopes", choices=[(scope.value, f"{scope.value}: {scope.description}") for scope in Scope], validate_choice=False,
    )


class RevokeTokenForm(FlaskForm):
    """Only the CSRF token: the token to revoke is in the URL."""
