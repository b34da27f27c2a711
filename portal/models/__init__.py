"""The portal's tables, one module per idea."""

from portal.models.accounts import Company, CompanyKind, Invitation, User
from portal.models.devices import Device, DeviceShare, ShareStatus
from portal.models.lab import LabClockSetting
from portal.models.licensing import ActivationCode, Entitlement, LicenseOrder, OrderChannel

__all__ = [
    "ActivationCode",
    "Company",
    "CompanyKind",
    "Device",
    "DeviceShare",
    "Entitlement",
    "Invitation",
    "LabClockSetting",
    "LicenseOrder",
    "OrderChannel",
    "ShareStatus",
    "User",
]
