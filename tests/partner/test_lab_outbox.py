"""The lab's SMTP server keeps each message as an .eml file; the lab Outbox lists and shows them."""

import pytest

from portal.lab_mail import LabMailServer
from portal.services.outbox.transports import send_email
from tests.conftest import make_app
from tests.partner.conftest import client_for


@pytest.fixture
def lab_mail(app, tmp_path):
    server = LabMailServer(tmp_path / "instance" / "lab-outbox")
    server.start()
    app.config["MAIL_PORT"] = server.port
    yield server
    server.stop()


def test_sent_mail_lands_in_the_folder_and_reads_in_the_outbox_newest_first(app, cast, lab_mail):
    with app.test_request_context():
        # Sent for the partner's company (an Installer Email, say), then one addressed to the partner's user.
        send_email("first@x.example", "First message", "Hello first\nline two", company_id=cast.partner.company_id)
        send_email(cast.partner.email, "Second message", "Hello second")
        send_email(cast.owner.email, "Someone else's code", "Code 1234")
    files = sorted(lab_mail.folder.glob("*.eml"))
    assert len(files) == 3
    client = client_for(app, cast.partner)
    page = client.get("/lab/outbox").get_data(as_text=True)
    assert page.index("Second message") < page.index("First message")
    assert "first@x.example" in page
    assert "Someone else" not in page
    message = client.get(f"/lab/outbox/{files[0].name}").get_data(as_text=True)
    assert "First message" in message and "Hello first\nline two" in message and "first@x.example" in message
    assert client.get(f"/lab/outbox/{files[2].name}").status_code == 404


def test_outbox_never_reads_outside_its_folder(app, cast, lab_mail, tmp_path):
    (tmp_path / "instance" / "secret.eml").write_text("Subject: secret\n\nsecret")
    client = client_for(app, cast.partner)
    for name in ("../secret.eml", "..%2Fsecret.eml", "secret.eml", ".hidden.eml", "x.txt"):
        assert client.get(f"/lab/outbox/{name}").status_code == 404
    assert "secret" not in client.get("/lab/outbox").get_data(as_text=True)


def test_outbox_needs_sign_in_and_exists_only_in_lab_mode(app, tmp_path):
    assert client_for(app, None).get("/lab/outbox").status_code == 302
    production = make_app(f"sqlite:///{tmp_path / 'prod.db'}", tmp_path, LAB_MODE=False)
    assert "lab_outbox.index" not in production.view_functions


def test_empty_outbox(app, cast):
    assert "No mail yet" in client_for(app, cast.partner).get("/lab/outbox").get_data(as_text=True)
