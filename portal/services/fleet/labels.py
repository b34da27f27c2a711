"""A device's name, location and site: set one by one, for a selection, or from a CSV of serial,name,site.

Owners and partners holding an active share may label a device (the same rule as every other action).
A CSV is checked whole before anything changes: every bad line is reported with its number, and the
preview and the apply run the very same check, so what the preview showed is what is applied.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.models import Device, User
from portal.services.accounts import access
from portal.services.errors import DomainError, NotFound

MAX_LABEL_CHARS = 120  # the width of the columns
MAX_CSV_BYTES = 256 * 1024  # 5,000 lines of serial, name and site fit in well under this
MAX_CSV_ROWS = 5000
MAX_REPORTED_ERRORS = 50
FIELDS = ("name", "location", "site")
CSV_REQUIRED = ("serial", "name", "site")
CSV_EXAMPLE = "serial,name,site\nAS1234567890,Rack 4 UPS,Harbour DC"


class LabelError(DomainError):
    """A name, location or site cannot be stored as typed; the message says which and why."""


@dataclass(frozen=True)
class Labels:
    name: str = ""
    location: str = ""
    site: str = ""


def clean_label(text: object, what: str, field: str | None = None) -> str:
    """The label as it will be stored: spaces trimmed and collapsed; LabelError for control characters or length."""
    value = " ".join(str(text or "").split())
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in value):
        raise LabelError(f"The {what} may not contain control characters.", field=field)
    if len(value) > MAX_LABEL_CHARS:
        raise LabelError(f"The {what} is {len(value)} characters long; the most is {MAX_LABEL_CHARS}.", field=field)
    return value


def clean_labels(name: object, location: object, site: object) -> Labels:
    return Labels(
        name=clean_label(name, "name", "name"),
        location=clean_label(location, "location", "location"),
        site=clean_label(site, "site", "site"),
    )


def set_labels(user: User, device: Device, labels: Labels) -> bool:
    """Store the device's name, location and site; True if anything changed. NotFound if the user may not act on it."""
    if not access.may_act_on(user, device):
        raise NotFound(access.NOT_FOUND)
    changed = (device.name, device.location, device.site) != (labels.name, labels.location, labels.site)
    device.name, device.location, device.site = labels.name, labels.location, labels.site
    return changed


def devices_for(user: User, device_ids: Iterable[int]) -> list[Device]:
    """The selected devices, every one of which the user may act on; NotFound if any is not theirs."""
    ids = sorted(set(device_ids))
    if not ids:
        raise LabelError("Select at least one device.", field="device")
    devices = list(db.session.scalars(access.visible_devices(user).where(Device.id.in_(ids)).order_by(Device.serial)))
    if len(devices) != len(ids) or any(not access.may_act_on(user, d) for d in devices):
        raise NotFound(access.NOT_FOUND)
    return devices


def set_site_and_location(user: User, device_ids: Iterable[int], site: object, location: object) -> list[Device]:
    """Give every selected device the same site, and the location when one is typed; the devices changed."""
    devices = devices_for(user, device_ids)
    new_site = clean_label(site, "site", "site")
    new_location = clean_label(location, "location", "location")
    if not new_site and not new_location:
        raise LabelError("Enter the site (and, if you like, the location) to give the selected devices.", field="site")
    changed = []
    for device in devices:
        before = (device.site, device.location)
        if new_site:
            device.site = new_site
        if new_location:
            device.location = new_location
        if (device.site, device.location) != before:
            changed.append(device)
    return changed


# ---------------------------------------------------------------------------------------------
# CSV of serial,name,site (location optional)


@dataclass(frozen=True)
class Change:
    line: int
    device_id: int
    serial: str
    before: Labels
    after: Labels

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in FIELDS if getattr(self.before, f) != getattr(self.after, f))


@dataclass(frozen=True)
class CsvPlan:
    """What a CSV would do: one change per line, or the bad lines (and then nothing may be applied)."""

    text: str
    changes: tuple[Change, ...]
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def to_apply(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.changed)


class CsvRefused(DomainError):
    """The file as a whole cannot be read (too big, not text, no header); no line was looked at."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


def decode_upload(data: bytes) -> str:
    """The upload's text: at most MAX_CSV_BYTES of UTF-8 (a BOM from Excel is fine)."""
    if len(data) > MAX_CSV_BYTES:
        raise CsvRefused(f"The file is larger than {MAX_CSV_BYTES // 1024} KB. Split it into smaller files.")
    if not data.strip():
        raise CsvRefused("The file is empty. Use one line per device: " + CSV_EXAMPLE.replace("\n", " / "))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvRefused("The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”.") from None


def _header(row: list[str]) -> dict[str, int]:
    columns = {cell.strip().casefold(): i for i, cell in reversed(list(enumerate(row)))}
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        raise CsvRefused(
            f"Line 1 must be the header naming the columns serial, name and site (location is optional); "
            f"it lacks {', '.join(missing)}."
        )
    return {name: columns[name] for name in (*CSV_REQUIRED, "location") if name in columns}


def plan_csv(user: User, text: str) -> CsvPlan:
    """Check every line of the CSV against the user's devices; the changes, or every bad line with its number."""
    if len(text.encode("utf-8")) > MAX_CSV_BYTES:
        raise CsvRefused(f"The file is larger than {MAX_CSV_BYTES // 1024} KB. Split it into smaller files.")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise CsvRefused(f"The file is not a readable CSV ({error}).") from None
    if not rows:
        raise CsvRefused("The file is empty. Use one line per device: " + CSV_EXAMPLE.replace("\n", " / "))
    columns = _header(rows[0])
    body = [(n, row) for n, row in enumerate(rows[1:], 2) if any(cell.strip() for cell in row)]
    if not body:
        raise CsvRefused("The file has a header but no device lines.")
    if len(body) > MAX_CSV_ROWS:
        raise CsvRefused(f"The file has {len(body)} device lines; the most in one file is {MAX_CSV_ROWS}.")
    serials = {(row[columns["serial"]] if columns["serial"] < len(row) else "").strip().upper() for _, row in body}
    known = {
        device.serial: device
        for device in db.session.scalars(access.visible_devices(user).where(Device.serial.in_(serials)))
        if access.may_act_on(user, device)
    }
    errors: list[str] = []
    changes: list[Change] = []
    first_line: dict[str, int] = {}
    for line, row in body:
        cells = {key: (row[i] if i < len(row) else "") for key, i in columns.items()}
        serial = cells["serial"].strip().upper()
        if not serial:
            errors.append(f"Line {line}: the serial is empty.")
            continue
        if serial in first_line:
            errors.append(f"Line {line}: {serial} is already on line {first_line[serial]}; give each device one line.")
            continue
        first_line[serial] = line
        device = known.get(serial)
        if device is None:
            errors.append(f"Line {line}: no device with serial {serial[:40]} in your account.")
            continue
        before = Labels(device.name, device.location, device.site)
        try:
            after = Labels(
                name=clean_label(cells["name"], "name") or before.name,
                location=clean_label(cells.get("location", ""), "location") or before.location,
                site=clean_label(cells["site"], "site") or before.site,
            )
        except LabelError as error:
            errors.append(f"Line {line}: {error.message}")
            continue
        changes.append(Change(line, device.id, serial, before, after))
    if len(errors) > MAX_REPORTED_ERRORS:
        errors = [*errors[:MAX_REPORTED_ERRORS], f"… and {len(errors) - MAX_REPORTED_ERRORS} more bad lines."]
    return CsvPlan(text=text, changes=tuple(changes) if not errors else (), errors=tuple(errors))


def apply_csv(user: User, text: str) -> CsvPlan:
    """Run the preview's check again and, only if every line passes, store every change; the plan applied."""
    plan = plan_csv(user, text)
    if not plan.ok:
        return plan
    devices = {d.id: d for d in db.session.scalars(select(Device).where(Device.id.in_([c.device_id for c in plan.to_apply])))}
    for change in plan.to_apply:
        device = devices[change.device_id]
        device.name, device.location, device.site = change.after.name, change.after.location, change.after.site
    return plan


# ---------------------------------------------------------------------------------------------
# The list to select from

LIST_PAGE_SIZE = 100


@dataclass(frozen=True)
class LabelList:
    devices: list[Device]
    total: int
    page: int
    pages: int
    q: str


def label_list(user: User, q: str = "", page: int = 1) -> LabelList:
    """One page of the user's devices with their labels, optionally those whose serial, name, location or site match."""
    query = access.visible_devices(user).where(Device.owner_company_id.is_not(None))
    q = " ".join((q or "").split())[:80]
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(*(func.lower(column).like(pattern) for column in (Device.serial, Device.name, Device.location, Device.site)))
        )
    total = db.session.scalar(query.with_only_columns(func.count(Device.id)).order_by(None)) or 0
    pages = max(1, -(-total // LIST_PAGE_SIZE))
    page = min(max(1, page), pages)
    devices = list(
        db.session.scalars(
            query.order_by(Device.site, Device.name, Device.serial).limit(LIST_PAGE_SIZE).offset((page - 1) * LIST_PAGE_SIZE)
        )
    )
    return LabelList(devices, total, page, pages, q)
