"""`flask renewals` across time with the lab clock: each notice once, however often it runs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import NotificationPolicy, NotificationUnsubscribe, RenewalNotice
from portal.services.alerts import policies
from portal.services.calendar_dates import add_months
from portal.services.clock import clock
from tests.notifications.conftest import deliveries, give_license
from tests.portal.factories import make_user


def run(app, command: str = "renewals") -> str:
    result = app.test_cli_runner().invoke(args=[command] if command != "notify" else ["notify", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def move_to(day) -> None:
    clock().advance(timedelta(days=(day - clock().today()).days))
    db.session.commit()


def kinds() -> list[str]:
    return [n.kind for n in db.session.scalars(select(RenewalNotice).order_by(RenewalNotice.id))]


def test_trial_notices_at_90_30_7_days_and_when_it_ends_each_once(mail_app, smtp_server, owner, device):
    trial_end = add_months(device.trial_started_on, 6)
    assert "0 to customers" in run(mail_app)  # 6 months left: nothing yet

    move_to(trial_end - timedelta(days=90))
    assert "1 to customers" in run(mail_app)
    assert "0 to customers" in run(mail_app)  # running twice raises nothing new
    move_to(trial_end - timedelta(days=60))
    run(mail_app)
    assert kinds() == ["90d"]

    move_to(trial_end - timedelta(days=30))
    run(mail_app)
    run(mail_app)
    move_to(trial_end - timedelta(days=7))
    run(mail_app)
    move_to(trial_end + timedelta(days=1))
    run(mail_app)
    run(mail_app)
    assert kinds() == ["90d", "30d", "7d", "trial_ended"]

    run(mail_app, "notify")
    messages = smtp_server.wait_for(4)
    assert len(messages) == 4 and {m["To"] for m in messages} == {"owner@customer.example"}
    subjects = [m["Subject"] for m in messages]
    assert subjects == ["Trial ending: 1 device needs a license"] * 4
    texts = [m.get_content() for m in messages]
    assert f"ends on {trial_end:%d %b %Y} (in 90 days)" in texts[0]
    assert "(in 7 days)" in texts[2]
    assert f"ended on {trial_end:%d %b %Y}" in texts[3] and "on Basic now" in texts[3]
    assert all("/unsubscribe/" in text for text in texts)

    move_to(trial_end + timedelta(days=40))
    run(mail_app)
    assert len(kinds()) == 4  # long after: nothing more


def test_a_late_first_run_sends_only_the_most_urgent_notice(mail_app, owner, device):
    trial_end = add_months(device.trial_started_on, 6)
    move_to(trial_end - timedelta(days=20))
    run(mail_app)
    assert kinds() == ["30d"]


def test_a_second_term_moves_the_end_and_the_notices_follow_it(mail_app, owner, device):
    trial_end = add_months(device.trial_started_on, 6)
    give_license(device, "standard", 12, clock().today())
    move_to(trial_end - timedelta(days=90))
    run(mail_app)
    assert kinds() == []  # covered for a year more
    move_to(add_months(trial_end, 12) - timedelta(days=30))
    run(mail_app)
    [notice] = db.session.scalars(select(RenewalNotice)).all()
    assert (notice.kind, notice.term_end) == ("30d", add_months(trial_end, 12))


def test_a_paid_term_raises_renewal_due(mail_app, owner):
    from tests.portal.factories import make_device

    device = make_device(owner)
    give_license(device, "advanced", 12, clock().today())
    move_to(add_months(device_day := clock().today(), 12) - timedelta(days=7))
    run(mail_app)
    [mail] = deliveries(channel="email")
    assert mail.event_type == "renewal_due" and mail.subject == "Renewal due: 1 device needs a license soon"
    assert (
        "The Advanced plan of" in mail.payload["text"]
        and f"{add_months(device_day, 12):%d %b %Y}" in mail.payload["text"]
    )


def test_renewal_emails_go_to_every_admin_once(mail_app, owner, device):
    from portal.models import User

    coworker = make_user(email="cfo@customer.example")
    coworker.company_id, coworker.is_admin = owner.company_id, True
    db.session.add(
        User(
            company_id=owner.company_id,
            email="staff@customer.example",
            name="Staff",
            password_hash="x",
            is_admin=False,
            created_at=clock().now(),
        )
    )
    db.session.commit()
    move_to(add_months(device.trial_started_on, 6) - timedelta(days=7))
    run(mail_app)
    assert sorted(d.target for d in deliveries(channel="email")) == [
        "cfo@customer.example",
        "owner@customer.example",
    ]


def test_renewal_notices_follow_policies_and_unsubscribes_like_every_alert(
    mail_app, smtp_server, httpserver, owner, device
):
    """The one fan-out: admins under "renewals", policies that chose the type, each address once."""

    def policy(name: str, recipients: str, *, enabled: bool = True, **urls) -> int:
        data = policies.PolicyInput(
            name=name,
            description="",
            event_types=["trial_ending"],
            severities=["critical", "warning", "informational"],
            email_recipients=recipients,
            enabled=enabled,
            **urls,
        )
        return policies.create_policy(owner, data, now=clock().now()).id

    wanted = policy("Finance", "finance@customer.example, owner@customer.example", webhook_url=httpserver.url_for("/hook"))
    gone = policy("Left us", "left@customer.example")
    policy("Switched off", "off@customer.example", enabled=False)
    db.session.add_all(
        [
            NotificationUnsubscribe(company_id=owner.company_id, scope="renewals", email="owner@customer.example", created_at=clock().now()),
            NotificationUnsubscribe(company_id=owner.company_id, scope=f"policy:{gone}", email="left@customer.example", created_at=clock().now()),
        ]
    )  # fmt: skip
    db.session.commit()
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")

    move_to(add_months(device.trial_started_on, 6) - timedelta(days=7))
    run(mail_app)
    emails = {d.target: d.policy_id for d in deliveries(channel="email")}
    default = db.session.scalar(select(NotificationPolicy.id).where(NotificationPolicy.is_default))
    # The owner opted out of renewal notices but the default policy still names them: mailed once, under it.
    assert emails == {"owner@customer.example": default, "finance@customer.example": wanted}
    [hook] = deliveries(channel="webhook")
    assert hook.policy_id == wanted and hook.payload["event_type"] == "trial_ending"

    run(mail_app, "notify")
    messages = smtp_server.wait_for(2)
    assert {m["To"] for m in messages} == {"owner@customer.example", "finance@customer.example"}
    assert all(m["Subject"] == "Trial ending: 1 device needs a license" for m in messages)
    assert len(httpserver.log) == 1 and httpserver.log[0][0].json["device"] is None


def test_an_admin_who_opted_out_of_renewal_notices_gets_none(mail_app, owner, device):
    policies.ensure_default_policy(owner.company_id, clock().now())
    default = db.session.scalar(select(NotificationPolicy))
    default.event_types = [t for t in default.event_types if t != "trial_ending"]
    db.session.add(
        NotificationUnsubscribe(
            company_id=owner.company_id, scope="renewals", email=owner.email, created_at=clock().now()
        )
    )
    db.session.commit()
    move_to(add_months(device.trial_started_on, 6) - timedelta(days=7))
    assert "1 to customers" in run(mail_app)
    assert deliveries() == []
