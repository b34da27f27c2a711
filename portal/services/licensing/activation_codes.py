"""Activation codes: generation from a CSPRNG and format checks that tell a typo from a wrong code.

Format: 25 characters shown as XXXXX-XXXXX-XXXXX-XXXXX-XXXXX, from a 30-character alphabet without
the look-alikes 0 O 1 I L U. The first 24 are random (24 x log2(30) = 117 bits); the last is a
check character. Four groups of five would hold only 93 random bits in this alphabet, hence five.

Check character: the weighted sum of the 24 character values (weights 1..24) modulo 31. Since 31 is
prime and larger than every weight and every value difference, any single mistyped character and any
swap of two different characters changes the sum, so the check fails. A sum of 30 has no character
in the alphabet; such codes are simply never generated (it costs 0.05 bits).
"""

from __future__ import annotations

import random
import re
import secrets

from portal.services.errors import LicensingError

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
NEVER_USED = "0O1ILU"
GROUP_SIZE = 5
DATA_LENGTH = 24
CODE_LENGTH = DATA_LENGTH + 1
_CHECK_MODULUS = 31
_VALUE = {char: value for value, char in enumerate(ALPHABET)}
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]")  # spaces and every kind of dash


def _check_value(data: str) -> int:
    """Weighted sum of the data characters modulo 31 (may be 30, which has no character)."""
    return sum(weight * _VALUE[char] for weight, char in enumerate(data, start=1)) % _CHECK_MODULUS


def format_code(code: str) -> str:
    """A normalised code in dash-separated groups of five, as printed in emails."""
    return "-".join(code[i : i + GROUP_SIZE] for i in range(0, len(code), GROUP_SIZE))


def generate_code(rng: random.Random | None = None) -> str:
    """A new formatted activation code; `rng` is for reproducible tests, the default is `secrets`."""
    choose = rng.choice if rng is not None else secrets.choice
    while True:
        data = "".join(choose(ALPHABET) for _ in range(DATA_LENGTH))
        check = _check_value(data)
        if check < len(ALPHABET):
            return format_code(data + ALPHABET[check])


def normalize_code(text: str) -> str:
    """Upper-case, without spaces or dashes: the form codes are stored and compared in."""
    return _SEPARATORS.sub("", text).upper()


def _distinct(chars: str) -> str:
    """Characters in first-seen order, for naming them in a message."""
    return ", ".join(dict.fromkeys(chars))


def check_code_format(text: str) -> str:
    """The normalised code when `text` is well formed; otherwise a LicensingError saying what is wrong."""
    code = normalize_code(text)
    if not code:
        raise LicensingError("Enter the activation code from your email.", field="code")
    never_used = "".join(char for char in code if char in NEVER_USED)
    if never_used:
        raise LicensingError(
            "Activation codes never use the characters 0, O, 1, I, L or U, "
            f"but this one contains {_distinct(never_used)}. Please check the code in your email.",
            field="code",
        )
    foreign = "".join(char for char in code if char not in _VALUE)
    if foreign:
        raise LicensingError(
            f"Activation codes contain only letters and digits; remove {_distinct(foreign)}.", field="code"
        )
    if len(code) != CODE_LENGTH:
        raise LicensingError(
            f"An activation code has {CODE_LENGTH} letters and digits (dashes not counted); "
            f"this one has {len(code)}.",
            field="code",
        )
    if _check_value(code[:DATA_LENGTH]) != _VALUE[code[-1]]:
        raise LicensingError(
            "The check character does not match: a character was probably mistyped. "
            "Please compare the code with your email.",
            field="code",
        )
    return code


def is_well_formed(text: str) -> bool:
    """Whether `text` passes check_code_format."""
    try:
        check_code_format(text)
    except LicensingError:
        return False
    return True


# The example the forms show: a well-formed code (it passes every format check), from a fixed seed.
EXAMPLE_CODE = generate_code(random.Random(2026))
