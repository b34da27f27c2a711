"""The portal's tables, one module per idea."""

from portal.models.accounts import Company, CompanyKind, Invitation, RecoveryCode, SignInSession, User
from portal.models.api import ApiCall, ApiToken
from portal.models.batches import CommandBatch, CommandBatchItem
from portal.models.battery import BatteryDischarge, BatteryReplacement
from portal.models.bridges import NutBridge
from portal.models.devices import Device, DeviceShare, ShareStatus
from portal.models.lab import LabClockMove, LabClockSetting
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
from portal.models.ownership import OwnershipTransfer, TransferStatus
from portal.models.quotes import Quote
from portal.models.schedules import FleetSchedule
from portal.models.telemetry import DeviceCommand, DeviceEvent, DeviceStatus, TelemetryRollup, TelemetrySample

__all__ = [
    "CommandBatch",
    "CommandBatchItem",
    "ActivationCode",
    "ApiCall",
    "ApiToken",
    "BatteryDischarge",
    "BatteryReplacement",
    "Company",
    "CompanyKind",
    "Device",
    "DeviceAlertState",
    "DeviceCommand",
    "DeviceEvent",
    "DeviceShare",
    "DeviceStatus",
    "Entitlement",
    "FleetSchedule",
    "Invitation",
    "LabClockMove",
    "LabClockSetting",
    "LicenseOrder",
    "MaintenanceWindow",
    "NotificationDelivery",
    "NotificationPolicy",
    "NotificationUnsubscribe",
    "NutBridge",
    "OrderChannel",
    "OwnershipTransfer",
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
    "TransferStatus",
    "User",
]
