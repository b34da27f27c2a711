"""Signing out and changing the password end sessions on the server: a copied cookie is refused afterwards."""

import pytest
from flask import g

from portal.extensions import db
from portal.models import SignInSession
from tests.portal.factories import PASSWORD, login, make_user

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app):
    """The app fixture keeps one app context open: forget flask-login's cached user before each request,
    or a replayed cookie would be judged by the previous request's user."""

    def forget() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)


def _cookie(client) -> str:
    return client.get_cookie("session", domain="portal.test").value


def _replay(app, cookie: str):
    """Another browser (an attacker's) presenting a copy of the cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie, domain="portal.test")
    return thief.get("/dashboard")


def _signed_in_client(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app):
    user = make_user()
    client = _signed_in_client(app, user)
    copied = _cookie(client)
    assert _replay(app, copied).status_code == 200  # the copy works while the session lives

    client.post("/logout")

    response = _replay(app, copied)
    assert response.status_code == 302 and "/login" in response.location
    assert db.session.query(SignInSession).count() == 0


def test_signing_out_in_one_browser_leaves_the_others_signed_in(app):
    user = make_user()
    laptop, phone = _signed_in_client(app, user), _signed_in_client(app, user)
    laptop.post("/logout")
    assert phone.get("/dashboard").status_code == 200
    assert laptop.get("/dashboard").status_code == 302


def test_a_password_change_signs_out_every_other_session_and_keeps_this_one(app):
    user = make_user()
    here, elsewhere = _signed_in_client(app, user), _signed_in_client(app, user)
    stolen = _cookie(elsewhere)

    response = here.post("/account/password", data={"current_password": PASSWORD, "password": NEW_PASSWORD})

    assert response.status_code == 302
    assert "1 other session signed out" in here.get("/account/security").get_data(as_text=True)
    assert here.get("/dashboard").status_code == 200
    assert elsewhere.get("/dashboard").status_code == 302
    assert _replay(app, stolen).status_code == 302
    assert login(app.test_client(), user).status_code == 422  # the old password is gone
    assert login(app.test_client(), user, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("not my password", NEW_PASSWORD, "The current password is incorrect."),
        (PASSWORD, "short", "Use at least 10 characters for the password."),
        (PASSWORD, PASSWORD, "Choose a password different from the current one."),
        ("", NEW_PASSWORD, "Please enter your current password."),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(app, current, new, message):
    user = make_user()
    here, elsewhere = _signed_in_client(app, user), _signed_in_client(app, user)

    response = here.post("/account/password", data={"current_password": current, "password": new})

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert elsewhere.get("/dashboard").status_code == 200
    assert login(app.test_client(), user).status_code == 302


def test_a_signed_out_cookie_cannot_change_the_password(app):
    user = make_user()
    client = _signed_in_client(app, user)
    copied = _cookie(client)
    client.post("/logout")

    thief = app.test_client()
    thief.set_cookie("session", copied, domain="portal.test")
    response = thief.post("/account/password", data={"current_password": PASSWORD, "password": NEW_PASSWORD})

    assert response.status_code == 302 and "/login" in response.location
    assert login(app.test_client(), user).status_code == 302


def test_the_cookie_carries_no_reusable_secret_in_the_database(app):
    user = make_user()
    client = _signed_in_client(app, user)
    row = db.session.query(SignInSession).one()
    assert row.user_id == user.id
    assert row.token_hash not in _cookie(client)


def test_a_session_ends_at_the_latest_its_lifetime_after_sign_in(app):
    user = make_user()
    client = _signed_in_client(app, user)
    copied = _cookie(client)
    row = db.session.query(SignInSession).one()
    row.created_at -= app.permanent_session_lifetime
    db.session.commit()

    assert _replay(app, copied).status_code == 302
    assert client.get("/dashboard").status_code == 302
    # The next sign-in tidies the expired row away.
    _signed_in_client(app, user)
    assert db.session.query(SignInSession).count() == 1
