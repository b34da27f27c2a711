"""TOTP two-factor sign-in: enrol with a QR code and a confirmation code, sign in with a code, recovery codes
work once, and turning it off needs the password."""

import re
import time

import pyotp
import pytest
from flask import g

from portal.extensions import db
from portal.models import RecoveryCode, User
from tests.portal.factories import PASSWORD, login, make_user


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app):
    """The app fixture keeps one app context open: forget flask-login's cached user before each request."""

    def forget() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrol(app, user) -> tuple[str, list[str]]:
    """Turn two-factor on through the pages, as the user would; the secret and the recovery codes."""
    client = app.test_client()
    login(client, user)
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    response = client.post("/account/two-factor", data={"code": _code(secret)})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", response.get_data(as_text=True))
    return secret, codes


def _password_step(app, user):
    client = app.test_client()
    response = login(client, user)
    assert response.status_code == 302 and response.location.endswith("/login/two-factor")
    return client


def test_enrolment_page_shows_a_qr_code_and_the_otpauth_uri(app):
    user = make_user()
    client = app.test_client()
    login(client, user)
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    assert "otpauth://totp/upsconnect:" in page and "issuer=upsconnect" in page
    assert "<script" not in page.split("</head>")[1]  # nothing inline for the strict CSP


def test_enrolment_turns_on_with_a_matching_code_and_shows_recovery_codes_once(app):
    user = make_user()
    secret, codes = _enrol(app, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret == secret
    stored = {row.code_hash for row in db.session.query(RecoveryCode).filter_by(user_id=user.id)}
    assert len(stored) == 10 and not stored & set(codes)  # only hashes are kept
    client = app.test_client()
    login(client, user)  # password step only: the security page is not reachable yet
    assert client.get("/account/security").status_code == 302


def test_a_wrong_confirmation_code_does_not_turn_it_on(app):
    user = make_user()
    client = app.test_client()
    login(client, user)
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    wrong = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    response = client.post("/account/two-factor", data={"code": wrong})
    assert response.status_code == 422
    assert "That code is not right" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret is None


def test_sign_in_asks_for_the_code_after_the_password(app):
    user = make_user()
    secret, _ = _enrol(app, user)
    client = _password_step(app, user)
    assert client.get("/dashboard").status_code == 302  # the password alone does not sign in

    # The code for the next step (within the drift window): the enrolment already used this step's code.
    code = _code(secret, steps_ahead=1)
    response = client.post("/login/two-factor", data={"code": code})
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200

    # The same code cannot be used twice, even within its 30 seconds.
    again = _password_step(app, user).post("/login/two-factor", data={"code": code})
    assert again.status_code == 422 and "used already" in again.get_data(as_text=True)


@pytest.mark.parametrize("code", ["000000", "12345", "abcdef", "", "9" * 40])
def test_a_wrong_code_is_refused_with_a_message(app, code):
    user = make_user()
    secret, _ = _enrol(app, user)
    client = _password_step(app, user)
    if code == "000000" and _code(secret) == code:
        code = "000001"
    response = client.post("/login/two-factor", data={"code": code})
    assert response.status_code == 422
    assert client.get("/dashboard").status_code == 302


def test_a_recovery_code_works_once(app):
    user = make_user()
    _, codes = _enrol(app, user)

    client = _password_step(app, user)
    assert client.post("/login/two-factor", data={"code": codes[0].upper()}).status_code == 302
    assert client.get("/dashboard").status_code == 200
    assert "Recovery codes left: 9" in client.get("/account/security").get_data(as_text=True)

    reused = _password_step(app, user).post("/login/two-factor", data={"code": codes[0]})
    assert reused.status_code == 422


def test_the_code_step_needs_the_password_step_first(app):
    response = app.test_client().post("/login/two-factor", data={"code": "123456"})
    assert response.status_code == 302 and response.location.endswith("/login")


def test_guessing_codes_is_limited_per_account(app):
    user = make_user()
    _enrol(app, user)
    statuses = []
    for n in range(12):
        # A fresh address each time: the per-account limit stops it, not the per-address one.
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        login(client, user)
        statuses.append(client.post("/login/two-factor", data={"code": "000000"}).status_code)
    assert statuses[:10] == [422] * 10 and statuses[10:] == [429, 429]


def test_turning_it_off_needs_the_password(app):
    user = make_user()
    secret, _ = _enrol(app, user)
    client = _password_step(app, user)
    client.post("/login/two-factor", data={"code": _code(secret, steps_ahead=1)})

    refused = client.post("/account/two-factor/disable", data={"password": "not my password"})
    assert refused.status_code == 422 and "The password is incorrect." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).two_factor_enabled

    assert client.post("/account/two-factor/disable", data={"password": PASSWORD}).status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, user.id).two_factor_enabled
    assert db.session.query(RecoveryCode).filter_by(user_id=user.id).count() == 0
    assert login(app.test_client(), user).location.endswith("/dashboard")
