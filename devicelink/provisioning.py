"""Deterministic device identities for a lab, and the secrets derived from a factory key.

The factory key never leaves the portal and the lab: a device's MQTT password and the registration
(claim) code on its LCD are both HMAC-SHA256 of its serial under that key, so the portal can verify a
claim code or write a broker password file without storing a secret per device.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from catalog.firmware import factory_firmware
from devicelink.contract import is_valid_serial

# Lab-only default; a real deployment sets UPSCONNECT_FACTORY_KEY.
LAB_FACTORY_KEY = b"upsconnect-lab-factory-key-not-for-production"
FACTORY_KEY_ENV = "UPSCONNECT_FACTORY_KEY"

CLAIM_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CLAIM_LENGTH = 8
APC_OUI = "00:C0:B7"
DEFAULT_MODELS = ("SMT750IC", "SMT1500IC", "SMT1500C", "SMT2200IC", "SMT3000IC", "SMC1500IC", "SMTL1500RM2UC")


@dataclass(frozen=True)
class DeviceIdentity:
    """What a device leaves the factory with."""

    serial: str
    mac: str
    model: str
    firmware: str
    username: str
    password: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


class SecretFileError(ValueError):
    """A secret file that is missing, empty or readable by others."""


def factory_key_from_env(value: str | None = None) -> bytes:
    """The factory key from an explicit value, else ``UPSCONNECT_FACTORY_KEY``, else the lab default.

    Programs pass the value they read from their own configuration; never from a command line.
    """
    raw = value if value is not None else os.environ.get(FACTORY_KEY_ENV)
    return raw.encode() if raw else LAB_FACTORY_KEY


def read_secret_file(path: str | os.PathLike, what: str) -> str:
    """The first line of a file only its owner may read (mode 600), trimmed; SecretFileError otherwise."""
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise SecretFileError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SecretFileError(f"the {what} file {path} is readable by others (mode {mode & 0o777:o}): chmod 600 it")
    if not text:
        raise SecretFileError(f"the {what} file {path} is empty")
    return text.splitlines()[0].strip()


def factory_key_from_file(path: str | os.PathLike) -> bytes:
    """The factory key stored in a file only its owner may read (mode 600)."""
    return read_secret_file(path, "factory key").encode()


def _mac_digest(factory_key: bytes, purpose: bytes, serial: str) -> bytes:
    if not is_valid_serial(serial):
        raise ValueError(f"invalid serial {serial!r}")
    return hmac.new(factory_key, purpose + b":" + serial.encode(), hashlib.sha256).digest()


def claim_code(factory_key: bytes, serial: str) -> str:
    """The registration code shown on the device's LCD, e.g. ``7KQ4-MZ2X``."""
    number = int.from_bytes(_mac_digest(factory_key, b"claim", serial), "big")
    chars = []
    for _ in range(CLAIM_LENGTH):
        number, index = divmod(number, len(CLAIM_ALPHABET))
        chars.append(CLAIM_ALPHABET[index])
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


def normalize_claim_code(code: str) -> str:
    """Uppercase, without spaces or dashes, so ``7kq4 mz2x`` matches ``7KQ4-MZ2X``."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def verify_claim_code(factory_key: bytes, serial: str, code: str) -> bool:
    """True when ``code`` is the claim code of ``serial`` (constant-time comparison)."""
    if not isinstance(code, str) or not is_valid_serial(serial):
        return False
    expected = normalize_claim_code(claim_code(factory_key, serial))
    return hmac.compare_digest(expected.encode(), normalize_claim_code(code).encode())


def device_password(factory_key: bytes, serial: str) -> str:
    """The device's MQTT password (its username is its serial)."""
    digest = _mac_digest(factory_key, b"mqtt-password", serial)
    return base64.urlsafe_b64encode(digest[:18]).decode()


def _serial(rng: random.Random) -> str:
    # APC style: plant letters, year and week of manufacture, six digits.
    plant = rng.choice(("AS", "3S", "IS", "JS"))
    year = rng.randint(20, 25)
    week = rng.randint(1, 52)
    return f"{plant}{year:02d}{week:02d}{rng.randint(0, 999_999):06d}"


def manufacture(
    count: int,
    seed: int,
    models: Sequence[str] | None = None,
    *,
    factory_key: bytes = LAB_FACTORY_KEY,
) -> list[DeviceIdentity]:
    """``count`` devices with unique serials and MACs; the same seed gives the same devices."""
    if count < 0:
        raise ValueError("count must be zero or more")
    choices = tuple(models) if models else DEFAULT_MODELS
    if not choices:
        raise ValueError("models must not be empty")
    rng = random.Random(f"upsconnect-fleet:{seed}")
    serials: set[str] = set()
    macs: set[str] = set()
    devices = []
    firmware_by_model = {model: factory_firmware(model) for model in set(choices)}
    while len(devices) < count:
        serial = _serial(rng)
        mac_tail = rng.getrandbits(24)
        mac = APC_OUI + "".join(f":{(mac_tail >> shift) & 0xFF:02X}" for shift in (16, 8, 0))
        model = choices[rng.randrange(len(choices))]
        if serial in serials or mac in macs:
            continue
        serials.add(serial)
        macs.add(mac)
        devices.append(
            DeviceIdentity(
                serial=serial,
                mac=mac,
                model=model,
                firmware=firmware_by_model[model],
                username=serial,
                password=device_password(factory_key, serial),
            )
        )
    return devices
