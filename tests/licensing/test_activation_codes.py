"""Activation codes: random, readable, and a typo is told apart from an unknown code."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.errors import LicensingError
from portal.services.licensing.activation_codes import (
    ALPHABET,
    CODE_LENGTH,
    DATA_LENGTH,
    NEVER_USED,
    check_code_format,
    format_code,
    generate_code,
    is_well_formed,
    normalize_code,
)

CODE_SHAPE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}(-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}){4}$")
seeds = st.integers(0, 2**32)


def test_alphabet_has_no_look_alikes() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 30
    assert not set(ALPHABET) & set(NEVER_USED)


def test_codes_carry_at_least_100_random_bits() -> None:
    assert DATA_LENGTH * math.log2(len(ALPHABET)) >= 100


def test_default_generator_gives_well_formed_distinct_codes() -> None:
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(CODE_SHAPE.match(code) for code in codes)
    assert all(check_code_format(code) == normalize_code(code) for code in codes)


def test_a_seeded_generator_is_reproducible() -> None:
    assert generate_code(random.Random(7)) == generate_code(random.Random(7))
    assert generate_code(random.Random(7)) != generate_code(random.Random(8))


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("abcde-fghjk", "ABCDEFGHJK"),
        ("  ab cd\te-fg ", "ABCDEFG"),
        ("AB\u2013CD", "ABCD"),  # an en dash pasted from a mail client
    ],
)
def test_normalize_code(typed: str, normalized: str) -> None:
    assert normalize_code(typed) == normalized


def test_format_code_groups_by_five() -> None:
    assert format_code("A" * 25) == "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"


GOOD = generate_code(random.Random(2026))


def _replace(code: str, index: int, char: str) -> str:
    raw = normalize_code(code)
    return raw[:index] + char + raw[index + 1 :]


def _another_char(char: str) -> str:
    return ALPHABET[(ALPHABET.index(char) + 1) % len(ALPHABET)]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the activation code"),
        ("  - - ", "Enter the activation code"),
        (_replace(GOOD, 3, "O"), "never use the characters 0, O, 1, I, L or U, but this one contains O"),
        (_replace(GOOD, 3, "1"), "contains 1"),
        (GOOD.lower().replace(GOOD[0].lower(), "l", 1), "contains L"),
        (_replace(GOOD, 3, "#"), "contain only letters and digits; remove #"),
        (GOOD[:-2], f"has {CODE_LENGTH} letters and digits (dashes not counted); this one has 23"),
        (GOOD + "A", "this one has 26"),
        (_replace(GOOD, 7, _another_char(normalize_code(GOOD)[7])), "a character was probably mistyped"),
        (_replace(GOOD, 24, _another_char(normalize_code(GOOD)[24])), "a character was probably mistyped"),
    ],
)
def test_check_code_format_says_what_is_wrong(typed: str, message: str) -> None:
    with pytest.raises(LicensingError) as refused:
        check_code_format(typed)
    assert message in refused.value.message
    assert refused.value.field == "code"
    assert not is_well_formed(typed)


def test_a_code_typed_in_lower_case_with_spaces_is_accepted() -> None:
    typed = " " + normalize_code(GOOD).lower()[:12] + " " + normalize_code(GOOD).lower()[12:]
    assert check_code_format(typed) == normalize_code(GOOD)


@given(seeds, st.integers(0, CODE_LENGTH - 1), st.integers(1, len(ALPHABET) - 1))
def test_any_single_mistyped_character_is_caught(seed: int, index: int, shift: int) -> None:
    code = normalize_code(generate_code(random.Random(seed)))
    wrong = ALPHABET[(ALPHABET.index(code[index]) + shift) % len(ALPHABET)]
    with pytest.raises(LicensingError, match="probably mistyped"):
        check_code_format(_replace(code, index, wrong))


@given(seeds, st.integers(0, CODE_LENGTH - 2))
def test_any_swap_of_two_neighbours_is_caught(seed: int, index: int) -> None:
    code = normalize_code(generate_code(random.Random(seed)))
    swapped = code[:index] + code[index + 1] + code[index] + code[index + 2 :]
    if swapped != code:
        with pytest.raises(LicensingError, match="probably mistyped"):
            check_code_format(swapped)
