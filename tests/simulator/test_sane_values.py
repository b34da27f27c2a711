"""Everything the simulator publishes passes the contract's sane-data checks (issue 16 item 2), even under
the harshest conditions the lab offers: blackout to exhaustion, 150 % load at three times its profile,
60 °C heat, an old battery."""

from __future__ import annotations

import pytest

from devicelink import contract
from devicelink.contract import Channel
from devicelink.provisioning import manufacture
from simulator.device import SimulatedDevice

KEY = b"sane-values-key"


@pytest.mark.parametrize("condition", ["blackout", "overload", "heat", "old_battery"])
def test_simulated_telemetry_is_physically_possible(condition):
    refused = []
    for identity in manufacture(6, seed=21, factory_key=KEY):
        device = SimulatedDevice(identity, seed=21, sim_start_s=1.8e9, factory_key=KEY, step_s=5.0)
        published = []
        device.attach(lambda channel, payload, retain, out=published: out.append((channel, payload)))
        start = device.state.sim_time_s
        if condition == "blackout":
            device.schedule_power("blackout", start + 60)
        elif condition == "overload":
            device.set_load(percent=150, scale=3)
        elif condition == "heat":
            device.schedule_heat(60.0, start)
        else:
            device.age_battery(8)
            device.schedule_power("blackout", start + 60)
        for minute in range(1, 240, 3):
            device.tick(start + minute * 60)
        for channel, payload in published:
            if channel == Channel.TELEMETRY:
                rejection = contract.check_plausible(channel, payload, arrival_s=payload["ts"])
                if rejection is not None:
                    refused.append((identity.model, rejection))
    assert refused == []
