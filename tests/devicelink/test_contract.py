"""The topic contract: topics, builders and strict validators that never raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devicelink import contract
from devicelink.contract import Channel

SERIAL = "AS2311123456"


def test_topics_round_trip():
    for channel in Channel:
        assert contract.parse_topic(contract.topic(SERIAL, channel)) == (SERIAL, channel)
    assert contract.topic(SERIAL, "cmd/result") == "ups/AS2311123456/cmd/result"
    assert contract.subscription(Channel.TELEMETRY) == "ups/+/telemetry"
    assert contract.subscription(serial=SERIAL) == "ups/AS2311123456/#"


@pytest.mark.parametrize(
    "name",
    [
        "ups/as2311123456/state",
        "ups/AS2311123456/other",
        "ups/AS2311123456",
        "x/AS2311123456/state",
        "ups/A/state",
        "",
        "ups/+/state",
    ],
)
def test_foreign_topics_are_not_parsed(name):
    assert contract.parse_topic(name) is None


@pytest.mark.parametrize("serial", ["as2311123456", "AS-2311", "AS2311123456/#", "", "A" * 21])
def test_bad_serials_cannot_build_topics(serial):
    with pytest.raises(ValueError):
        contract.topic(serial, Channel.STATE)


def good_payloads():
    return {
        Channel.HELLO: contract.hello_payload(
            model="SMT1500IC",
            sku="SMT1500IC",
            serial=SERIAL,
            firmware="UPS 15.5 (ID1029)",
            battery_type="lead-acid",
            outlet_groups=["Main Outlets", "Outlet Group 1"],
            mac="00:C0:B7:12:34:56",
        ),
        Channel.TELEMETRY: contract.telemetry_payload(
            ts=1.7e9, seq=1, variables={"ups.status": "OL", "battery.charge": 100}
        ),
        Channel.EVENT: contract.event_payload(
            ts=1.7e9, seq=2, code="0x0109", severity="warning", text="UPS: On battery power."
        ),
        Channel.CMD: contract.command_payload(
            "outlet.group.cycle", {"group": "Outlet Group 1"}, issued_at=1.7e9
        ),
        Channel.CMD_RESULT: contract.result_payload("abc", "progress", ts=1.7e9, progress_percent=40),
    }


@pytest.mark.parametrize("channel", list(good_payloads()))
def test_built_payloads_decode(channel):
    payload = good_payloads()[channel]
    assert contract.decode(channel, contract.encode(payload)) == (payload, None)


@pytest.mark.parametrize(
    ("channel", "change", "error"),
    [
        (Channel.TELEMETRY, {"schema": 2}, "schema must be 1"),
        (Channel.TELEMETRY, {"seq": -1}, "seq"),
        (Channel.TELEMETRY, {"seq": True}, "seq"),
        (Channel.TELEMETRY, {"ts": "now"}, "ts"),
        (Channel.TELEMETRY, {"vars": {"Battery Charge": 1}}, "invalid NUT variable name"),
        (Channel.TELEMETRY, {"vars": {"ups.load": [1]}}, "must be a number"),
        (Channel.TELEMETRY, {"extra": 1}, "unknown key"),
        (Channel.EVENT, {"severity": "bad"}, "severity"),
        (Channel.EVENT, {"code": "0x01"}, "code"),
        (Channel.HELLO, {"battery_type": "nicd"}, "battery_type"),
        (Channel.HELLO, {"mac": "nope"}, "mac"),
        (Channel.HELLO, {"outlet_groups": []}, "outlet_groups"),
        (Channel.CMD, {"type": "format.disk"}, "unknown command type"),
        (Channel.CMD, {"id": "not-a-uuid"}, "UUID"),
        (Channel.CMD, {"args": {"group": "G", "delay_s": -1}}, "delay_s"),
        (Channel.CMD_RESULT, {"status": "maybe"}, "status"),
        (Channel.CMD_RESULT, {"progress_percent": 140}, "progress_percent"),
        (Channel.CMD_RESULT, {"progress_percent": None}, "needs progress_percent"),
    ],
)
def test_malformed_payloads_get_clear_errors(channel, change, error):
    payload = {**good_payloads()[channel], **change}
    decoded, message = contract.decode(channel, json.dumps(payload).encode())
    assert decoded is None and error in message


def test_missing_keys_are_named():
    payload = good_payloads()[Channel.TELEMETRY]
    del payload["seq"]
    assert contract.validate(Channel.TELEMETRY, payload) == "missing key(s): seq"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xff\xfe", "UTF-8"),
        (b"{", "JSON"),
        (b"NaN", "JSON"),
        (b"[" * 100_000, ""),
        (b"x" * 70_000, "larger"),
    ],
)
def test_garbage_bytes_give_an_error_not_an_exception(raw, error):
    decoded, message = contract.decode(Channel.TELEMETRY, raw)
    assert decoded is None and error in message


def test_state_is_a_plain_string():
    assert contract.decode(Channel.STATE, b"online") == ("online", None)
    assert contract.decode(Channel.STATE, b"offline")[1] == "state must be 'online' or 'lost', got 'offline'"


@given(st.binary(max_size=300))
def test_decode_never_raises_on_random_bytes(raw):
    for channel in Channel:
        decoded, error = contract.decode(channel, raw)
        assert (decoded is None) != (error is None)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
    )
)
def test_validators_never_raise_on_any_json_value(value):
    for channel in Channel:
        assert contract.validate(channel, value) is None or isinstance(contract.validate(channel, value), str)


NOW = 1.8e9  # arrival, on the portal's clock


@pytest.mark.parametrize(
    ("variables", "ts", "reason"),
    [
        ({"battery.charge": 1e300}, NOW, "out_of_range"),
        ({"battery.charge": 100.5}, NOW, "out_of_range"),
        ({"ups.load": -50}, NOW, "out_of_range"),
        ({"ups.load": 150.1}, NOW, "out_of_range"),
        ({"battery.runtime": -3600}, NOW, "out_of_range"),
        ({"battery.runtime": 8 * 86400}, NOW, "out_of_range"),
        ({"input.voltage": 601}, NOW, "out_of_range"),
        ({"ups.temperature": -41}, NOW, "out_of_range"),
        ({"input.frequency": "1e9"}, NOW, "out_of_range"),
        ({"battery.charge": 0, "ups.load": 150, "battery.runtime": 65535, "ups.temperature": -40}, NOW, None),
        ({}, NOW - 30 * 86400 - 1, "clock_skew"),
        ({}, NOW + 86400 + 1, "clock_skew"),
        ({}, NOW - 30 * 86400, None),
        ({}, NOW + 86400, None),
    ],
)
def test_physically_impossible_values_and_skewed_timestamps_are_refused_with_a_reason(variables, ts, reason):
    payload = contract.telemetry_payload(ts=ts, seq=1, variables=variables)
    assert contract.validate(Channel.TELEMETRY, payload) is None  # well-formed: refused only as implausible
    rejection = contract.check_plausible(Channel.TELEMETRY, payload, arrival_s=NOW)
    if reason is None:
        assert rejection is None
    else:
        assert rejection is not None and rejection[0] == reason and rejection[1]


def test_events_are_checked_for_skew_too_results_are_not():
    event = contract.event_payload(ts=0.0, seq=1, code="", severity="informational", text="x")
    assert contract.check_plausible(Channel.EVENT, event, arrival_s=1.8e9)[0] == "clock_skew"
    result = contract.result_payload("abc", "done", ts=3.0)  # not stored: a wrong device clock is harmless
    assert contract.check_plausible(Channel.CMD_RESULT, result, arrival_s=1.8e9) is None
    assert contract.check_plausible(Channel.HELLO, {"anything": 1}, arrival_s=0) is None
