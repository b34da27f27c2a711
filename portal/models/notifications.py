"""Notifications: policies, the delivery outbox, maintenance windows, thresholds, renewal notices."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Company, User
from portal.models.devices import Device


class NotificationPolicy(db.Model):
    """Which events a company wants to hear about, and where: email, Slack, Teams, a JSON webhook."""

    __tablename__ = "notification_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list] = mapped_column(
        JSON, default=list
    )  # keys of services.notifications.EVENT_TYPES
    severities: Mapped[list] = mapped_column(JSON, default=list)  # critical | warning | informational
    email_recipients: Mapped[list] = mapped_column(JSON, default=list)  # lower-cased addresses
    slack_webhook_url: Mapped[str] = mapped_column(String(500), default="")
    teams_webhook_url: Mapped[str] = mapped_column(String(500), default="")
    webhook_url: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    company: Mapped[Company] = relationship()


class NotificationUnsubscribe(db.Model):
    """An address that asked, through the link in an email, to get no more mail of one kind.

    ``scope`` is ``policy:<id>`` for a notification policy, ``renewals`` for renewal notices and
    ``reseller`` for Renewal Support lifecycle notices.
    """

    __tablename__ = "notification_unsubscribes"
    __table_args__ = (UniqueConstraint("company_id", "scope", "email", name="uq_unsubscribe_scope_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    scope: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime]


class NotificationDelivery(db.Model):
    """The outbox: one message to one target, written in the transaction that raised it.

    The delivery worker (`flask notify`) sends due rows and retries with backoff; a row is never
    re-used, so the log shows every attempt. Re-sending creates a new row pointing at the old one.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_company_created", "company_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_policies.id", ondelete="SET NULL"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    event_id: Mapped[int | None]  # device_events.id; not a foreign key: the event log is purged after 30 days
    event_type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))  # email | slack | teams | webhook
    target: Mapped[str] = mapped_column(String(500))  # an email address or a webhook URL
    subject: Mapped[str] = mapped_column(String(300))
    # email: {text, html}; webhooks: the JSON body. {"confidential": true} marks a body that carries a
    # share, invitation or activation code: it is erased once delivered and never shown in the log.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)  # attempts started; counted when a worker claims the row
    # set while a worker holds the row for an attempt; still set when the row is due again means that
    # worker died mid-send (its lease expired), so the next attempt is logged as a re-delivery
    claimed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    resent_from_id: Mapped[int | None] = mapped_column(ForeignKey("notification_deliveries.id"))
    # the message's id for receivers (``webhook-id``): kept by every retry and by a re-send of the message
    message_id: Mapped[str] = mapped_column(String(40), index=True)

    policy: Mapped[NotificationPolicy | None] = relationship()
    device: Mapped[Device | None] = relationship()

    @property
    def confidential(self) -> bool:
        return bool((self.payload or {}).get("confidential"))

    @property
    def can_resend(self) -> bool:
        """Finished, and its text still kept (a delivered confidential body is erased)."""
        return self.status != "pending" and not (self.confidential and self.status == "sent")


class MaintenanceWindow(db.Model):
    """While it runs, a device raises no alerts (its events are still logged)."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_device_span", "device_id", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]  # exclusive
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]

    device: Mapped[Device] = relationship()
    created_by: Mapped[User | None] = relationship()


class ThresholdSetting(db.Model):
    """A company's threshold alerts; an empty limit is off. Hysteresis keeps a hovering value quiet."""

    __tablename__ = "threshold_settings"

    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    load_above_percent: Mapped[float | None]
    runtime_below_min: Mapped[float | None]
    voltage_low_v: Mapped[float | None]
    voltage_high_v: Mapped[float | None]
    load_hysteresis_percent: Mapped[float] = mapped_column(default=5.0)
    runtime_hysteresis_min: Mapped[float] = mapped_column(default=2.0)
    voltage_hysteresis_v: Mapped[float] = mapped_column(default=5.0)
    updated_at: Mapped[datetime]


class DeviceAlertState(db.Model):
    """Whether a device's threshold alert is raised, per metric, so it is raised and cleared once."""

    __tablename__ = "device_alert_states"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)  # load | runtime | voltage
    active: Mapped[bool] = mapped_column(default=False)
    value: Mapped[float | None]
    changed_at: Mapped[datetime]


class RenewalNotice(db.Model):
    """A renewal or lifecycle notice raised once: the unique key makes `flask renewals` idempotent.

    ``term_end`` is the date the notice is about: a term's end (exclusive), a battery replace-by date,
    a warranty end. Kinds: 90d, 30d, 7d, trial_ended, reseller_3m_plan, reseller_3m_battery,
    reseller_3m_battery_eol, reseller_3m_warranty.
    """

    __tablename__ = "renewal_notices"
    __table_args__ = (UniqueConstraint("device_id", "term_end", "kind", name="uq_renewal_notice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    term_end: Mapped[date]
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    device: Mapped[Device] = relationship()


class RenewalSupport(db.Model):
    """A customer's consent that its preferred reseller receives lifecycle notices.

    pending (invite sent, 7 days to answer) -> accepted | declined | expired; pending or accepted -> ended by
    either side. A company has at most one pending or accepted row at a time (enforced by the service).
    """

    __tablename__ = "renewal_supports"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    reseller_email: Mapped[str] = mapped_column(String(254), index=True)
    reseller_company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | accepted | declined | expired | ended
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str] = mapped_column(String(16), default="")  # customer | reseller
    end_note: Mapped[str] = mapped_column(Text, default="")

    customer: Mapped[Company] = relationship(foreign_keys=[customer_company_id])
    reseller: Mapped[Company | None] = relationship(foreign_keys=[reseller_company_id])
    invited_by: Mapped[User | None] = relationship()
