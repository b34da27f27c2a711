"""A small world for the API tests: an owner's device with telemetry, an event, a command, and tokens of each scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from portal.extensions import db
from portal.models import CompanyKind, Device, DeviceCommand, DeviceEvent, DeviceStatus, TelemetrySample, User
from portal.services.api import tokens
from portal.services.clock import clock, utcnow
from portal.services.licensing import entitlements
from portal.services.partners import license_orders
from tests.portal.factories import make_device, make_user

SCOPE_SETS = {"read": ["read"], "commands": ["commands"], "licensing": ["licensing"], "all": ["read", "commands", "licensing"]}


@dataclass
class ApiWorld:
    owner: User
    device: Device
    command_id: str
    secrets: dict[str, str]  # scope set name -> bearer secret
    code: str  # an activation code of 50 Standard 1-year licenses, ordered by a partner for this customer


def add_readings(device: Device, *, online: bool = True) -> None:
    now = utcnow()
    db.session.add(DeviceStatus(
        device_id=device.id, online=online, last_seen_at=now, last_telemetry_at=now, state_changed_at=now,
        last_seq=5, ups_status="OL CHRG",
        variables={"ups.load": 23, "battery.charge": 100, "battery.runtime": 3600, "input.voltage": 230.1,
                   "output.voltage": 230.0, "input.frequency": 50.0, "ups.temperature": 28.5, "ups.status": "OL CHRG"},
    ))
    for i in range(5):
        db.session.add(TelemetrySample(
            device_id=device.id, seq=i, ts=now - timedelta(minutes=5 * i), ups_status="OL", load_percent=20 + i,
            charge_percent=100, runtime_s=3600, input_voltage_v=230, output_voltage_v=230, input_frequency_hz=50,
            temperature_c=28,
        ))
    db.session.add(DeviceEvent(device_id=device.id, seq=1, ts=now - timedelta(hours=1), code="0x0104",
                               severity="warning", text="UPS: On battery power in response to an input power problem."))


def build(app, *, trial: bool = True) -> ApiWorld:
    owner = make_user(company="Harbour Data Centre")
    device = make_device(owner)
    if trial:
        entitlements.start_trial(device, today=clock().today(), now=clock().now())
    add_readings(device)
    now = utcnow()
    command = DeviceCommand(
        id="6f1c2a4e-0000-4000-8000-000000000001", device_id=device.id, type="test.battery.start", args={},
        issued_by_user_id=owner.id, issued_at=now, status="done", progress_percent=100, message="Passed.", updated_at=now,
    )
    db.session.add(command)
    secrets = {name: tokens.create_token(owner, f"{name} token", scopes, now=now).secret for name, scopes in SCOPE_SETS.items()}
    partner = make_user(CompanyKind.PARTNER, company="Volt Partners")
    with app.test_request_context():
        placed = license_orders.order_for_customer(
            partner, sku="SCSTD1Y", quantity="50", po_number="PO-7", installer_email=owner.email,
            customer_name="Harbour Data Centre", today=clock().today(), now=clock().now(),
            verify_url="http://portal.test/licenses/verify", shared_url="http://portal.test/partner/shared",
        )
    db.session.commit()
    return ApiWorld(owner, device, command.id, secrets, placed.code.code)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def good_body(world: ApiWorld, operation_id: str) -> dict | None:
    """A request body each POST operation accepts in this world."""
    return {
        "send_command": {"type": "test.battery.start"},
        "verify_code": {"code": world.code},
        "preview_assignment": {"code": world.code, "device_ids": [world.device.id]},
        "assign_code": {"code": world.code, "device_ids": [world.device.id]},
    }.get(operation_id)
