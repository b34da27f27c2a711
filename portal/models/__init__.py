"""The portal's tables, one module per idea."""

from portal.models.accounts import Company, CompanyKind, Invitation, RecoveryCode, SignInSession, User
from portal.models.devices import Device, DeviceShare, ShareStatus
from portal.models.lab import LabClockSetting
from portal.models.licensing import (
    ActivationCode,
    Entitlement,
    LicenseOrder,
    OrderChannel,
    SubscriptionSegment,
)
from portal.models.notifications import (
    DeviceAlertState,
    MaintenanceWindow,
    NotificationDelivery,
    NotificationPolicy,
    NotificationUnsubscribe,
    RenewalNotice,
    RenewalSupport,
    ThresholdSetting,
)
from portal.models.quotes import Quote
from portal.models.telemetry import DeviceCommand, DeviceEvent, DeviceStatus, TelemetryRollup, TelemetrySample

__all__ = [
    "ActivationCode",
    "Company",
    "CompanyKind",
    "Device",
    "DeviceAlertState",
    "DeviceCommand",
    "DeviceEvent",
    "DeviceShare",
    "DeviceStatus",
    "Entitlement",
    "Invitation",
    "LabClockSetting",
    "LicenseOrder",
    "MaintenanceWindow",
    "NotificationDelivery",
    "NotificationPolicy",
    "NotificationUnsubscribe",
    "OrderChannel",
    "Quote",
    "RecoveryCode",
    "RenewalNotice",
    "RenewalSupport",
    "ShareStatus",
    "SignInSession",
    "SubscriptionSegment",
    "TelemetryRollup",
    "TelemetrySample",
    "ThresholdSetting",
    "User",
]
