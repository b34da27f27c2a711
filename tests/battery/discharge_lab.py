"""Discharges made by the simulator's own physics (no broker): samples as ingest would store them."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

from catalog.ups_models import model_spec
from portal.services.battery.episodes import Sample
from simulator import ups_model
from simulator.ups_model import InputPower


def to_sample(ts: float, t: dict) -> Sample:
    return Sample(
        ts=datetime.fromtimestamp(ts, UTC).replace(tzinfo=None),
        status=str(t["ups.status"]),
        load_percent=float(t["ups.load"]),
        charge_percent=float(t["battery.charge"]),
        runtime_s=float(t["battery.runtime"]),
        temperature_c=float(t["ups.temperature"]),
    )


def discharge(*args, **kwargs) -> list[Sample]:
    """Samples on line (settled), on battery through a blackout, and back on line."""
    return [to_sample(ts, t) for ts, t in discharge_telemetry(*args, **kwargs)]


def discharge_telemetry(
    model: str = "SMT1500IC",
    *,
    capacity: float = 1.0,
    load_percent: float = 50.0,
    ambient_c: float = 25.0,
    minutes: float = 6.0,
    interval_s: float = 30.0,
    start_s: float = 1_780_000_000.0,
    firmware_capacity: float | None = None,
) -> list[tuple[float, dict]]:
    """(unix time, NUT variables) on line (settled), through a blackout of ``minutes``, and back on line."""
    spec = model_spec(model)
    rng = random.Random(7)
    state = ups_model.initial_state(spec, sim_time_s=start_s, rng=rng)
    known = capacity if firmware_capacity is None else firmware_capacity
    state = dataclasses.replace(state, capacity_fraction=capacity, capacity_estimate_fraction=known)
    loads = (spec.w_rating * load_percent / 100.0,) + (0.0,) * (len(spec.outlet_groups) - 1)
    nominal = InputPower.nominal(spec)
    state, _ = ups_model.step(state, spec, nominal, loads, 6 * 3600.0, rng, ambient_c)  # temperatures settle
    samples = [(state.sim_time_s, ups_model.telemetry(state, spec))]
    for _ in range(round(minutes * 60 / interval_s)):
        state, _ = ups_model.step(state, spec, InputPower.blackout(), loads, interval_s, rng, ambient_c)
        samples.append((state.sim_time_s, ups_model.telemetry(state, spec)))
    state, _ = ups_model.step(state, spec, nominal, loads, interval_s, rng, ambient_c)
    samples.append((state.sim_time_s, ups_model.telemetry(state, spec)))
    return samples
