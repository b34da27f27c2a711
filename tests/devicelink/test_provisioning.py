"""Lab identities and the secrets derived from the factory key."""

from __future__ import annotations

from devicelink import contract
from devicelink.provisioning import (
    CLAIM_ALPHABET,
    claim_code,
    device_password,
    manufacture,
    verify_claim_code,
)

KEY = b"test-factory-key"


def test_same_seed_same_fleet_other_seed_other_fleet():
    assert manufacture(50, seed=3, factory_key=KEY) == manufacture(50, seed=3, factory_key=KEY)
    assert manufacture(50, seed=3)[0].serial != manufacture(50, seed=4)[0].serial
    assert manufacture(10, seed=3) == manufacture(50, seed=3)[:10]


def test_identities_are_unique_and_well_formed():
    devices = manufacture(2000, seed=1, factory_key=KEY)
    assert len({d.serial for d in devices}) == 2000 and len({d.mac for d in devices}) == 2000
    for device in devices[:50]:
        assert contract.is_valid_serial(device.serial) and device.username == device.serial
        assert contract.MAC_RE.fullmatch(device.mac)
        assert device.password == device_password(KEY, device.serial)
        assert device.firmware.startswith("UPS ")


def test_models_can_be_chosen():
    assert {d.model for d in manufacture(20, seed=1, models=["SMT750IC"])} == {"SMT750IC"}


def test_claim_code_is_readable_and_verifiable():
    code = claim_code(KEY, "AS2311123456")
    assert len(code) == 9 and code[4] == "-"
    assert set(code.replace("-", "")) <= set(CLAIM_ALPHABET)
    assert not set(code) & set("0O1IL")
    assert verify_claim_code(KEY, "AS2311123456", code)
    assert verify_claim_code(KEY, "AS2311123456", code.lower().replace("-", " "))
    assert not verify_claim_code(KEY, "AS2311123457", code)
    assert not verify_claim_code(b"other-key", "AS2311123456", code)
    assert not verify_claim_code(KEY, "bad serial", code)


def test_secrets_depend_on_key_and_serial():
    assert device_password(KEY, "AS2311123456") != device_password(KEY, "AS2311123457")
    assert device_password(KEY, "AS2311123456") != device_password(b"k2", "AS2311123456")
    assert device_password(KEY, "AS2311123456") != claim_code(KEY, "AS2311123456")
