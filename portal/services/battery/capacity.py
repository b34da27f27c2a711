"""Usable capacity relative to new, from one measured discharge (pure).

The battery physics the simulator models (docs/simulator-model.md): a new, full pack at 25 C runs
``full_charge_runtime_s(battery power)`` seconds, so at a load it drains a fraction
``dt / (full_charge_runtime_s x capacity x temperature factor)`` of its charge in ``dt``. Turned round:
the charge a discharge used and the seconds it lasted give the capacity. See docs/battery-insight.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.ups_models import ModelSpec
from portal.services.battery.episodes import Episode, Sample

MIN_CHARGE_DROP = 0.05  # below 5 points of charge the 0.1 % display steps weigh too much
MIN_MEASURED_S = 120.0
MIN_SAMPLES = 3


@dataclass(frozen=True)
class Measurement:
    """What one discharge shows; health is None when it was too short to measure."""

    duration_s: float
    start_charge_percent: float
    end_charge_percent: float
    load_percent: float
    energy_wh: float
    temperature_c: float | None
    predicted_runtime_s: float | None
    measured_runtime_s: float | None
    health: float | None
    charge_drop: float  # fraction of a full charge used between the first and last sample on battery


def temperature_factor(spec: ModelSpec, battery_temp_c: float) -> float:
    """Available capacity relative to 25 C (the catalogue's coefficient, the simulator's clamp)."""
    return min(max(1.0 + spec.capacity_temp_coeff_per_c * (battery_temp_c - 25.0), 0.5), 1.05)


def battery_temp_c(sample: Sample, spec: ModelSpec) -> float | None:
    """The battery's temperature from the UPS's internal one on line: the battery sits about 3 C plus
    9 C x load cooler than the electronics (the simulator's steady state). Telemetry history keeps only
    ups.temperature, so this is an estimate; None without a reading."""
    if sample.temperature_c is None:
        return None
    load = (sample.load_percent or 0.0) / 100.0
    return sample.temperature_c - 3.0 - 9.0 * load


def _load_w(spec: ModelSpec, sample: Sample) -> float:
    return max(sample.load_percent or 0.0, 0.0) * spec.w_rating / 100.0


def measure(episode: Episode, spec: ModelSpec) -> Measurement:
    """Charge, load, energy, temperature and runtime figures of one episode, and the health it shows."""
    samples = episode.on_battery
    first, last = samples[0], samples[-1]
    loads = [s.load_percent for s in samples if s.load_percent is not None]
    load_percent = sum(loads) / len(loads) if loads else 0.0
    duration_s = (episode.ended_at - episode.started_at).total_seconds()
    reference = episode.before or first
    temp_c = battery_temp_c(reference, spec)
    start_charge = first.charge_percent if first.charge_percent is not None else 0.0
    end_charge = last.charge_percent if last.charge_percent is not None else start_charge
    drop = max(start_charge - end_charge, 0.0) / 100.0
    measured_s = (last.ts - first.ts).total_seconds()
    # Seconds of a new, full battery at 25 C that the discharge used up: sum of dt / full-charge runtime.
    new_fraction = 0.0
    for a, b in zip(samples, samples[1:], strict=False):
        dt = (b.ts - a.ts).total_seconds()
        rate_a = 1.0 / spec.full_charge_runtime_s(spec.battery_power_w(_load_w(spec, a)))
        rate_b = 1.0 / spec.full_charge_runtime_s(spec.battery_power_w(_load_w(spec, b)))
        new_fraction += dt * (rate_a + rate_b) / 2.0
    health = measured_runtime = None
    if drop >= MIN_CHARGE_DROP and measured_s >= MIN_MEASURED_S and len(samples) >= MIN_SAMPLES:
        factor = temperature_factor(spec, temp_c) if temp_c is not None else 1.0
        health = min(max(new_fraction / (drop * factor), 0.0), 1.0)  # above new is measurement noise
        measured_runtime = start_charge / 100.0 * measured_s / drop
    return Measurement(
        duration_s=duration_s,
        start_charge_percent=start_charge,
        end_charge_percent=end_charge,
        load_percent=round(load_percent, 1),
        energy_wh=round(load_percent * spec.w_rating / 100.0 * duration_s / 3600.0, 1),
        temperature_c=reference.temperature_c,
        predicted_runtime_s=first.runtime_s,
        measured_runtime_s=measured_runtime,
        health=health,
        charge_drop=drop,
    )
