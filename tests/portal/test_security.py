"""Every state change needs a CSRF token; lab pages exist only in lab mode; headers are strict."""

import re

import pytest

from tests.conftest import make_app
from tests.portal.factories import PASSWORD, make_user


@pytest.fixture
def csrf_app(tmp_path):
    from portal.extensions import db

    app = make_app(f"sqlite:///{tmp_path / 'csrf.db'}", tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def _csrf_exempt(app, rule) -> bool:
    from portal.extensions import csrf

    view = app.view_functions[rule.endpoint]
    return f"{view.__module__}.{view.__name__}" in csrf._exempt_views


def _state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or _csrf_exempt(app, rule):
            continue
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            yield method, rule


def test_only_machine_endpoints_under_api_skip_the_csrf_check(csrf_app):
    """A machine's call (a bridge's secret, a one-time token) carries no browser session, so it needs no CSRF
    token; such endpoints live under /api/, and no browser page may be exempted."""
    exempt = [rule.rule for rule in csrf_app.url_map.iter_rules() if rule.endpoint != "static" and _csrf_exempt(csrf_app, rule)]
    assert exempt, "the NUT bridge's machine endpoints are exempt"
    assert all(path.startswith("/api/") for path in exempt), exempt


def test_every_state_change_is_refused_without_a_csrf_token(csrf_app):
    client = csrf_app.test_client()
    rules = list(_state_changing_rules(csrf_app))
    assert len(rules) >= 5
    for method, rule in rules:
        url = re.sub(r"<[^>]+>", "1", rule.rule)  # every argument, whatever its converter: "1" fits them all
        response = client.open(url, method=method, data={})
        assert response.status_code == 400, f"{method} {rule.rule} answered {response.status_code}"
        assert "The form expired" in response.get_data(as_text=True)


def test_sign_in_works_with_the_csrf_token_from_the_form(csrf_app):
    user = make_user()
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_htmx_requests_carry_the_token_in_a_header(csrf_app):
    page = csrf_app.test_client().get("/login").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


def test_strict_security_headers(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "HX-Request" in response.headers["Vary"]


def test_pages_load_nothing_from_other_sites(client):
    page = client.get("/signup").get_data(as_text=True)
    assert "http://" not in page.replace("http://portal.test", "") and "https://" not in page


def test_lab_pages_do_not_exist_outside_lab_mode(tmp_path):
    from portal.extensions import db

    app = make_app(f"sqlite:///{tmp_path / 'prod.db'}", tmp_path, LAB_MODE=False)
    with app.app_context():
        db.create_all()
        user = make_user()
        client = app.test_client()
        client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert client.get("/lab/clock").status_code == 404
        assert client.post("/lab/clock", data={"action": "30d"}).status_code == 404
        db.session.remove()
        db.engine.dispose()


def test_unknown_pages_get_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)
