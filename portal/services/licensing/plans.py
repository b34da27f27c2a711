"""Monitoring plans and what each one allows, kept as one table of data."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from types import MappingProxyType

from portal.services.errors import LicensingError


class Plan(IntEnum):
    """A monitoring plan; the order is the upgrade order (Basic < Standard < Advanced)."""

    BASIC = 0
    STANDARD = 1
    ADVANCED = 2

    @property
    def key(self) -> str:
        """The lower-case name stored in the database and used in URLs ("standard")."""
        return self.name.lower()

    @property
    def display_name(self) -> str:
        """The name shown to users ("Standard")."""
        return self.name.capitalize()

    @classmethod
    def from_key(cls, key: str) -> Plan:
        """The plan for a stored key such as "advanced" (case-insensitive)."""
        try:
            return cls[key.strip().upper()]
        except KeyError:
            names = ", ".join(plan.key for plan in cls)
            raise LicensingError(f"Unknown plan {key!r}; plans are {names}.") from None


class Feature(StrEnum):
    """Something a user can do or see for a device, gated by the device's plan."""

    STATUS_VIEW = "status_view"
    REPORTS = "reports"
    HEALTH_VALUES = "health_values"
    EVENT_LOG = "event_log"
    EMAIL_ALERTS = "email_alerts"
    CHAT_ROUTING = "chat_routing"
    REMOTE_FIRMWARE = "remote_firmware"
    INPUT_SENSITIVITY = "input_sensitivity"
    SELF_TEST = "self_test"
    SHARING = "sharing"
    OUTLET_REBOOT = "outlet_reboot"

    @property
    def display_name(self) -> str:
        """A short label for the feature, used in messages and the plan comparison table."""
        return FEATURE_LABELS[self]


FEATURE_LABELS: dict[Feature, str] = {
    Feature.STATUS_VIEW: "Status view",
    Feature.REPORTS: "MyInventory and MyRenewals reports",
    Feature.HEALTH_VALUES: "Operational and health values",
    Feature.EVENT_LOG: "30-day event log",
    Feature.EMAIL_ALERTS: "Customizable email notifications",
    Feature.CHAT_ROUTING: "Slack and Teams notifications",
    Feature.REMOTE_FIRMWARE: "Remote firmware upgrade",
    Feature.INPUT_SENSITIVITY: "Input-sensitivity adjustment",
    Feature.SELF_TEST: "Self-test and diagnostics",
    Feature.SHARING: "Sharing with other users",
    Feature.OUTLET_REBOOT: "Remote outlet-group reboot",
}

# Basic keeps only the status view (and the reports, which exist to get a device renewed).
_BASIC = frozenset({Feature.STATUS_VIEW, Feature.REPORTS})
_STANDARD = _BASIC | {
    Feature.HEALTH_VALUES,
    Feature.EVENT_LOG,
    Feature.EMAIL_ALERTS,
    Feature.CHAT_ROUTING,
    Feature.REMOTE_FIRMWARE,
    Feature.INPUT_SENSITIVITY,
    Feature.SELF_TEST,
    Feature.SHARING,
}
_ADVANCED = _STANDARD | {Feature.OUTLET_REBOOT}

PLAN_FEATURES: MappingProxyType[Plan, frozenset[Feature]] = MappingProxyType(
    {Plan.BASIC: _BASIC, Plan.STANDARD: _STANDARD, Plan.ADVANCED: _ADVANCED}
)

# What a Basic device can still do instead, where the seeds say so.
_BASIC_ALTERNATIVE: dict[Feature, str] = {
    Feature.REMOTE_FIRMWARE: "On Basic, start the firmware installation from the UPS's own LCD screen.",
    Feature.EVENT_LOG: "On Basic, no new events are recorded in the event log.",
    Feature.EMAIL_ALERTS: "On Basic, no email alerts are sent.",
}


def features_of(plan: Plan) -> frozenset[Feature]:
    """Every feature the plan allows."""
    return PLAN_FEATURES[plan]


def plan_allows(plan: Plan, feature: Feature) -> bool:
    """Whether a device on `plan` may use `feature`."""
    return feature in PLAN_FEATURES[plan]


def lowest_plan_allowing(feature: Feature) -> Plan:
    """The cheapest plan that allows `feature`."""
    return min(plan for plan in Plan if plan_allows(plan, feature))


def why_not(plan: Plan, feature: Feature) -> str | None:
    """A reason a user can read when `plan` does not allow `feature`; None when it does."""
    if plan_allows(plan, feature):
        return None
    needed = lowest_plan_allowing(feature)
    reason = (
        f"{feature.display_name} needs the {needed.display_name} plan; this device is on {plan.display_name}."
    )
    alternative = _BASIC_ALTERNATIVE.get(feature) if plan is Plan.BASIC else None
    return f"{reason} {alternative}" if alternative else reason
