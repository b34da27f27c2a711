"""Sign-up, sign-in, sign-out and co-worker invitations, through the pages a person uses."""

import re

import pytest

from portal.extensions import db
from portal.models import Company, CompanyKind, Invitation, User
from portal.services.accounts import users
from tests.conftest import notify_once
from tests.portal.factories import PASSWORD, login, make_user

SIGNUP = {
    "company_name": "Acme Hosting", "kind": "customer", "country": "France", "city": "Lyon", "phone": "+33 4 00 00 00 00",
    "user_name": "Ada Martin", "email": "Ada.Martin@Acme.example", "password": "long enough password",
}


def test_sign_up_creates_company_with_admin_and_signs_in(client):
    response = client.post("/signup", data=SIGNUP)
    assert response.status_code == 302
    user = db.session.scalar(db.select(User))
    assert user.email == "ada.martin@acme.example"
    assert user.is_admin and user.company.name == "Acme Hosting" and user.company.kind == CompanyKind.CUSTOMER
    assert user.password_hash != SIGNUP["password"]
    assert "Acme Hosting" in client.get("/dashboard").get_data(as_text=True)


def test_sign_up_as_partner(client):
    client.post("/signup", data={**SIGNUP, "kind": "partner"})
    assert db.session.scalar(db.select(Company)).kind == CompanyKind.PARTNER


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "You have entered an invalid email address. Please re-enter the email address."),
        ("email", "", "Please enter email address"),
        ("password", "short", "Use at least 10 characters for the password."),
        ("company_name", "", "Please enter your company name."),
        ("kind", "reseller", "Not a valid choice"),
    ],
)
def test_sign_up_errors_show_in_place_keep_input_and_change_nothing(client, field, value, message):
    response = client.post("/signup", data={**SIGNUP, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert 'value="Acme Hosting"' in page or field == "company_name"
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Company.id))) == 0


def test_sign_up_with_an_existing_email_is_refused(client):
    make_user(email="ada.martin@acme.example")
    response = client.post("/signup", data=SIGNUP)
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Company.id))) == 1


def test_sign_in_and_out(client):
    user = make_user()
    assert client.get("/dashboard").status_code == 302
    response = login(client, user)
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200
    client.post("/logout")
    assert client.get("/dashboard").status_code == 302


@pytest.mark.parametrize("email_case", [str.lower, str.upper])
def test_sign_in_email_is_case_insensitive(client, email_case):
    user = make_user()
    response = client.post("/login", data={"email": email_case(user.email), "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("email", ["nobody@nowhere.example", None])
def test_wrong_credentials_get_one_message(client, email):
    user = make_user()
    response = client.post("/login", data={"email": email or user.email, "password": "wrong password!"})
    assert response.status_code == 422
    assert "The email or password is incorrect." in response.get_data(as_text=True)


def test_next_redirect_stays_on_site(client):
    user = make_user()
    response = client.post("/login?next=https://evil.example/x", data={"email": user.email, "password": PASSWORD})
    assert response.location.endswith("/dashboard")
    client.post("/logout")
    response = client.post("/login?next=/team", data={"email": user.email, "password": PASSWORD})
    assert response.location.endswith("/team")


def test_login_is_rate_limited(client):
    user = make_user()
    statuses = [client.post("/login", data={"email": user.email, "password": "wrong password!"}).status_code for _ in range(12)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]
    # Even the right password waits out the limit.
    assert login(client, user).status_code == 429


def test_session_cookie_is_httponly_and_samesite(client):
    user = make_user()
    response = login(client, user)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_htmx_request_with_expired_session_redirects_to_sign_in(client):
    response = client.get("/dashboard", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert "/login" in response.headers["HX-Redirect"]


# --- invitations: the seeds' dialog and its messages ---

def _invite(client, email):
    return client.post("/team/invite", data={"email": email})


def test_invite_sends_email_and_invitee_joins_same_company(app, client, smtp_server):
    app.config.update(MAIL_PORT=smtp_server.port)
    admin = make_user()
    login(client, admin)
    response = _invite(client, "Bob@Acme.example")
    assert response.status_code == 302
    follow = client.get("/team").get_data(as_text=True)
    assert "Invitation Sent" in follow and "Your invitation is on its way to bob@acme.example." in follow
    notify_once(app)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "bob@acme.example"
    link = re.search(r"https?://\S+/join/\S+", message.get_content()).group(0)
    client.post("/logout")
    path = link.split("portal.test", 1)[1]
    assert admin.company.name in client.get(path).get_data(as_text=True)
    response = client.post(path, data={"user_name": "Bob Stone", "password": "another long password"})
    assert response.status_code == 302
    bob = users.user_by_email("bob@acme.example")
    assert bob.company_id == admin.company_id and not bob.is_admin
    # The link works once.
    client.post("/logout")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("bob@", "You have entered an invalid email address. Please re-enter the email address."),
        ("", "Please enter email address"),
    ],
)
def test_invite_rejects_bad_addresses_with_the_seeds_wording(client, email, message):
    login(client, make_user())
    response = _invite(client, email)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Invitation.id))) == 0


def test_invite_same_address_twice_is_refused(client):
    login(client, make_user())
    _invite(client, "bob@acme.example")
    response = _invite(client, "BOB@acme.example")
    assert response.status_code == 422
    assert "This co-worker has already been invited to the upsconnect portal. Please invite another co-worker." in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Invitation.id))) == 1


def test_invite_an_existing_user_is_refused(client):
    other = make_user()
    login(client, make_user())
    assert _invite(client, other.email).status_code == 422


def test_only_admins_invite(client):
    admin = make_user()
    sent = users.invite_coworker(
        admin, "carol@acme.example", now=admin.created_at, join_link=lambda token: f"http://portal.test/join/{token}"
    )
    carol = users.accept_invitation(sent.token, user_name="Carol", password="long enough password", now=admin.created_at)
    db.session.commit()
    login(client, carol, "long enough password")
    response = _invite(client, "dave@acme.example")
    assert response.status_code == 422
    assert "Only an administrator" in response.get_data(as_text=True)
