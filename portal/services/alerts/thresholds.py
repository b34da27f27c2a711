"""Threshold alerts without rules to write: load above X %, runtime below Y min, input voltage outside a band.

Each (device, metric) keeps whether its alert is raised (``DeviceAlertState``). An alert is raised when
the value crosses the limit and cleared only once it is back past the limit by the hysteresis margin,
so a value hovering at the limit raises one alert, not one per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import Device, DeviceAlertState, ThresholdSetting, User
from portal.services.alerts.device_alerts import raise_device_alert
from portal.services.errors import DomainError

METRICS = ("load", "runtime", "voltage")
EVENT_TYPE = {"load": "threshold_load", "runtime": "threshold_runtime", "voltage": "threshold_voltage"}


class ThresholdError(DomainError):
    """A threshold setting was refused."""


@dataclass(frozen=True)
class Limits:
    load_above_percent: float | None = None
    runtime_below_min: float | None = None
    voltage_low_v: float | None = None
    voltage_high_v: float | None = None
    load_hysteresis_percent: float = 5.0
    runtime_hysteresis_min: float = 2.0
    voltage_hysteresis_v: float = 5.0


def next_state(metric: str, active: bool, value: float, limits: Limits) -> bool:
    """Whether the metric's alert is raised after this value (pure: the hysteresis rule)."""
    if metric == "load":
        limit = limits.load_above_percent
        if limit is None:
            return False
        return value > limit - limits.load_hysteresis_percent if active else value > limit
    if metric == "runtime":
        limit = limits.runtime_below_min
        if limit is None:
            return False
        return value < limit + limits.runtime_hysteresis_min if active else value < limit
    low, high, margin = limits.voltage_low_v, limits.voltage_high_v, limits.voltage_hysteresis_v
    if low is None and high is None:
        return False
    if active:
        return (low is not None and value < low + margin) or (high is not None and value > high - margin)
    return (low is not None and value < low) or (high is not None and value > high)


def _value(metric: str, variables: dict) -> float | None:
    name = {"load": "ups.load", "runtime": "battery.runtime", "voltage": "input.voltage"}[metric]
    raw = variables.get(name)
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        return None
    return float(raw) / 60 if metric == "runtime" else float(raw)


def limits_of(setting: ThresholdSetting | None) -> Limits:
    if setting is None:
        return Limits()
    return Limits(
        setting.load_above_percent,
        setting.runtime_below_min,
        setting.voltage_low_v,
        setting.voltage_high_v,
        setting.load_hysteresis_percent,
        setting.runtime_hysteresis_min,
        setting.voltage_hysteresis_v,
    )


def _text(metric: str, raised: bool, value: float, limits: Limits) -> str:
    if metric == "load":
        return (
            f"Load is {value:.0f} %, above the {limits.load_above_percent:g} % limit."
            if raised
            else f"Load is back to {value:.0f} %, below the {limits.load_above_percent:g} % limit."
        )
    if metric == "runtime":
        return (
            f"Runtime is {value:.0f} min, below the {limits.runtime_below_min:g} min limit."
            if raised
            else f"Runtime is back to {value:.0f} min, above the {limits.runtime_below_min:g} min limit."
        )
    band = f"{limits.voltage_low_v or 0:g}–{limits.voltage_high_v or 0:g} V"
    return (
        f"Input voltage is {value:.0f} V, outside the {band} band."
        if raised
        else f"Input voltage is back to {value:.0f} V, inside the {band} band."
    )


def evaluate_batch(latest: dict[int, dict], *, now: datetime) -> int:
    """Check each device's newest variables against its company's limits; raise or clear alerts."""
    if not latest:
        return 0
    devices = db.session.scalars(
        select(Device).where(Device.id.in_(list(latest)), Device.owner_company_id.is_not(None))
    ).all()
    companies = {d.owner_company_id for d in devices}
    if not companies:
        return 0
    settings = {
        s.company_id: s
        for s in db.session.scalars(
            select(ThresholdSetting).where(ThresholdSetting.company_id.in_(companies))
        )
    }
    if not settings:
        return 0
    queued = 0
    for device in devices:
        setting = settings.get(device.owner_company_id)
        if setting is None:
            continue
        limits = limits_of(setting)
        states = {
            s.metric: s
            for s in db.session.scalars(
                select(DeviceAlertState).where(DeviceAlertState.device_id == device.id)
            )
        }
        for metric in METRICS:
            value = _value(metric, latest[device.id])
            if value is None:
                continue
            state = states.get(metric)
            was = bool(state and state.active)
            now_active = next_state(metric, was, value, limits)
            if state is None:
                state = DeviceAlertState(
                    device_id=device.id, metric=metric, active=False, value=value, changed_at=now
                )
                db.session.add(state)
            state.value = value
            if now_active == was:
                continue
            state.active, state.changed_at = now_active, now
            queued += len(
                raise_device_alert(
                    device,
                    EVENT_TYPE[metric],
                    "warning" if now_active else "informational",
                    _text(metric, now_active, value, limits),
                    ts=now,
                    now=now,
                    today=now.date(),
                    details={"metric": metric, "value": round(value, 1), "raised": now_active},
                )
            )
    db.session.flush()
    return queued


def setting_for(user: User) -> ThresholdSetting | None:
    return db.session.get(ThresholdSetting, user.company_id)


def save(user: User, limits: Limits, *, now: datetime) -> ThresholdSetting:
    if limits.load_above_percent is not None and not 1 <= limits.load_above_percent <= 150:
        raise ThresholdError("Load limit must be between 1 and 150 %.", "load_above_percent")
    if limits.runtime_below_min is not None and not 0 < limits.runtime_below_min <= 600:
        raise ThresholdError("Runtime limit must be between 1 and 600 min.", "runtime_below_min")
    low, high = limits.voltage_low_v, limits.voltage_high_v
    for name, volts in (("voltage_low_v", low), ("voltage_high_v", high)):
        if volts is not None and not 50 <= volts <= 300:
            raise ThresholdError("Voltages must be between 50 and 300 V.", name)
    if low is not None and high is not None and low + 2 * limits.voltage_hysteresis_v >= high:
        raise ThresholdError("The low limit must be well below the high limit.", "voltage_high_v")
    for name in ("load_hysteresis_percent", "runtime_hysteresis_min", "voltage_hysteresis_v"):
        if not 0 <= getattr(limits, name) <= 50:
            raise ThresholdError("Hysteresis must be between 0 and 50.", name)
    setting = db.session.get(ThresholdSetting, user.company_id)
    if setting is None:
        setting = ThresholdSetting(company_id=user.company_id, updated_at=now)
        db.session.add(setting)
    for name, value in limits.__dict__.items():
        setattr(setting, name, value)
    setting.updated_at = now
    db.session.flush()
    return setting
