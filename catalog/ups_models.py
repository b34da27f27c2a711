"""The Smart-UPS model catalogue as data: ratings, battery, outlet groups and runtime calibration.

Figures carry the confidence tags of /work/shared/reference/ups-physics.md in comments:
[dump] real device readout, [apc] APC document, [3p] third party, [est] estimate (a tunable default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LEAD_ACID = "lead-acid"
LI_ION = "li-ion"


@dataclass(frozen=True)
class ModelSpec:
    """One Smart-UPS model: nameplate, battery pack and the figures the physics model is calibrated on."""

    model: str
    description: str
    va_rating: int
    w_rating: int
    nominal_input_v: int
    nominal_frequency_hz: int
    battery_chemistry: str
    battery_sku: str
    pack_nominal_v: float
    outlet_groups: tuple[str, ...]
    firmware_family: str
    firmware_version: str
    # Runtime calibration: new battery, 100% charge, 25 C, at 50% and 100% of w_rating.
    runtime_half_load_s: float
    runtime_full_load_s: float
    pack_capacity_ah: float
    efficiency: float = 0.88  # inverter, battery to output [est]
    overhead_w: float = 20.0  # control and inverter idle draw on battery [est]
    usable_energy_fraction: float = 0.85  # of nominal pack energy at a low discharge rate [est]
    recharge_to_90_s: float = 3 * 3600.0  # [apc] "typical recharge 3 h"
    factory_warranty_years: int = 3  # [est] Smart-UPS standard warranty (repair or replace, battery excluded)
    design_life_years_25c: float = 5.0  # calendar life to the replace limit with the battery at 25 C [est]
    cycle_life: float = 500.0  # equivalent full cycles to the replace limit [apc]
    replace_below_capacity: float = 0.6  # RB below this fraction of new capacity [est]
    life_halving_temp_c: float = 8.0  # [apc] FA158934: lead-acid life halves per 8 C above 25 C
    capacity_temp_coeff_per_c: float = 0.008  # available capacity change per C from 25 C [est]
    transfer_low_v: int = 0
    transfer_high_v: int = 0
    outlet_reboot_delay_s: float = 8.0  # [dump] outlet.group.N.delay.reboot
    # Derived in __post_init__.
    runtime_exponent: float = field(init=False, default=0.0)
    full_load_battery_w: float = field(init=False, default=0.0)
    usable_energy_wh: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        """Fit the power law of runtime in battery power through the two calibration points."""
        half_w = self.battery_power_w(self.w_rating * 0.5)
        full_w = self.battery_power_w(self.w_rating)
        exponent = math.log(self.runtime_half_load_s / self.runtime_full_load_s) / math.log(full_w / half_w)
        object.__setattr__(self, "runtime_exponent", exponent)
        object.__setattr__(self, "full_load_battery_w", full_w)
        energy_wh = self.pack_nominal_v * self.pack_capacity_ah * self.usable_energy_fraction
        object.__setattr__(self, "usable_energy_wh", energy_wh)
        if not self.transfer_low_v:
            low, high = (208, 253) if self.nominal_input_v >= 200 else (106, 127)  # [apc] defaults
            object.__setattr__(self, "transfer_low_v", low)
            object.__setattr__(self, "transfer_high_v", high)

    def battery_power_w(self, output_w: float) -> float:
        """Power drawn from the pack to deliver output_w on battery."""
        return output_w / self.efficiency + self.overhead_w

    def full_charge_runtime_s(self, battery_w: float) -> float:
        """Runtime of a new, full pack at 25 C: a power law, capped by the pack's usable energy."""
        power_law_s = (
            self.runtime_full_load_s * (self.full_load_battery_w / battery_w) ** self.runtime_exponent
        )
        energy_s = self.usable_energy_wh * 3600.0 / battery_w
        return power_law_s if power_law_s < energy_s else energy_s


_MAIN = "Main Outlets"


def _groups(switched: int) -> tuple[str, ...]:
    return (_MAIN, *(f"Outlet Group {n}" for n in range(1, switched + 1)))


# (base model, description, VA, W, battery SKU, pack V, pack Ah, half-load min, full-load min, switched groups)
_LEAD_ACID_ROWS = [
    # SMT750: 750/500 W, 24 V pack, main + 1 group [dump]; RBC48 = 2 x 12 V 7 Ah [3p]; runtimes [est]
    ("SMT750", "Smart-UPS 750", 750, 500, "APCRBC48", 24.0, 7.0, 19.0, 6.5, 1),
    # SMT1000: 700 W, RBC6 = 2 x 12 V 12 Ah [3p/est]; runtimes [est]
    ("SMT1000", "Smart-UPS 1000", 1000, 700, "APCRBC6", 24.0, 12.0, 21.0, 7.0, 1),
    # SMT1500: 1000 W, RBC7 = 2 x 12 V 17 Ah, 17 min / 6 min [3p]
    ("SMT1500", "Smart-UPS 1500", 1500, 1000, "APCRBC7", 24.0, 17.0, 17.0, 6.0, 1),
    # SMT2200: 1980 W, 48 V RBC55 = 4 x 12 V 9 Ah, main + 2 [est]; runtimes [est]
    ("SMT2200", "Smart-UPS 2200", 2200, 1980, "APCRBC55", 48.0, 9.0, 15.0, 5.0, 2),
    # SMT3000: 2700 W, 48 V pack [dump], RBC55-class, main + 2 [est]; runtimes [est]
    ("SMT3000", "Smart-UPS 3000", 3000, 2700, "APCRBC55", 48.0, 9.0, 11.0, 3.8, 2),
    # SMC1000: 600 W, RBC6-class, main only [est]; runtimes [est]
    ("SMC1000", "Smart-UPS C 1000", 1000, 600, "APCRBC6", 24.0, 12.0, 18.0, 6.0, 0),
    # SMC1500: 900 W, RBC7, 15 min / 5 min [3p]; main only [est]
    ("SMC1500", "Smart-UPS C 1500", 1500, 900, "APCRBC7", 24.0, 17.0, 15.0, 5.0, 0),
]

# Firmware families and versions of SmartConnect units [est]: SMT on "UPS 15.x", SMC on "UPS 04.x".
_FIRMWARE = {"SMT": ("UPS 15.x", "UPS 15.5 (ID1029)"), "SMC": ("UPS 04.x", "UPS 04.1 (ID1005)")}


def _lead_acid_specs() -> list[ModelSpec]:
    specs = []
    for base, description, va, w, sku, pack_v, pack_ah, half_min, full_min, switched in _LEAD_ACID_ROWS:
        family, version = _FIRMWARE[base[:3]]
        for suffix, volts, hertz in (("C", 120, 60), ("IC", 230, 50)):
            specs.append(
                ModelSpec(
                    model=f"{base}{suffix}",
                    description=description,
                    va_rating=va,
                    w_rating=w,
                    nominal_input_v=volts,
                    nominal_frequency_hz=hertz,
                    battery_chemistry=LEAD_ACID,
                    battery_sku=sku,
                    pack_nominal_v=pack_v,
                    outlet_groups=_groups(switched),
                    firmware_family=family,
                    firmware_version=version,
                    runtime_half_load_s=half_min * 60.0,
                    runtime_full_load_s=full_min * 60.0,
                    pack_capacity_ah=pack_ah,
                    overhead_w=20.0 if va <= 1000 else 25.0,
                )
            )
    return specs


# Li-ion SMTL: 1500 VA / 1350 W, 10 y design life and ~5000 cycles [apc]; pack, SKU, runtimes [est].
_SMTL1500 = ModelSpec(
    model="SMTL1500RM2UC",
    description="Smart-UPS Lithium-ion 1500",
    va_rating=1500,
    w_rating=1350,
    nominal_input_v=120,
    nominal_frequency_hz=60,
    battery_chemistry=LI_ION,
    battery_sku="APCRBCLI1500RM2U",  # [est] SKU not verified
    pack_nominal_v=48.0,
    outlet_groups=_groups(1),
    firmware_family="UPS 15.x",
    firmware_version="UPS 15.5 (ID1030)",
    runtime_half_load_s=14.0 * 60,
    runtime_full_load_s=5.5 * 60,
    pack_capacity_ah=10.0,
    efficiency=0.9,
    overhead_w=20.0,
    usable_energy_fraction=0.95,
    recharge_to_90_s=2 * 3600.0,
    design_life_years_25c=10.0,
    cycle_life=5000.0,
    replace_below_capacity=0.7,
    life_halving_temp_c=15.0,  # [est] Li-ion is far less sensitive to heat than lead-acid
    capacity_temp_coeff_per_c=0.004,
)

CATALOG: dict[str, ModelSpec] = {spec.model: spec for spec in [*_lead_acid_specs(), _SMTL1500]}


def model_spec(model: str) -> ModelSpec:
    """The spec of a catalogue model; ValueError naming the known models otherwise."""
    try:
        return CATALOG[model]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ValueError(f"Unknown model {model!r}. Known models: {known}") from None
