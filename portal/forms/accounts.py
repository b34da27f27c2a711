"""Sign-up, sign-in, invitation, password and two-factor forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.models import CompanyKind


class SignUpForm(FlaskForm):
    company_name = StringField("Company name", validators=[DataRequired("Please enter your company name."), Length(max=120)])
    kind = RadioField(
        "Company type",
        choices=[
            SelectChoice(CompanyKind.CUSTOMER.value, "Customer (I own UPS devices)"),
            SelectChoice(CompanyKind.PARTNER.value, "Partner (reseller or service provider)"),
        ],
        default=CompanyKind.CUSTOMER.value,
        validators=[DataRequired("Choose a company type.")],
    )
    country = StringField("Country", validators=[DataRequired("Please enter your country."), Length(max=80)])
    city = StringField("City", validators=[Length(max=80)])
    phone = StringField("Phone", validators=[Length(max=40)])
    user_name = StringField("Your name", validators=[DataRequired("Please enter your name."), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired("Please enter email address"), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Please choose a password."), Length(max=200)])


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Please enter email address")])
    password = PasswordField("Password", validators=[DataRequired("Please enter your password.")])


class InviteForm(FlaskForm):
    # No DataRequired here: the service gives the seeds' exact wording for an empty address.
    email = EmailField("Co-worker's email")


class AcceptInvitationForm(FlaskForm):
    user_name = StringField("Your name", validators=[DataRequired("Please enter your name."), Length(max=120)])
    password = PasswordField("Password", validators=[DataRequired("Please choose a password."), Length(max=200)])


class TwoFactorForm(FlaskForm):
    code = StringField("Authentication code", validators=[DataRequired("Please enter the code."), Length(max=32)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Please enter your current password."), Length(max=200)]
    )
    password = PasswordField("New password", validators=[DataRequired("Please choose a new password."), Length(max=200)])


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired("Please enter your password."), Length(max=200)])
