"""WTForms classes: parsing and field checks only; rules live in portal/services."""

from portal.services.accounts.access import MAX_ID, parse_id


def row_id(value: object) -> int:
    """`coerce` for a field that posts a row id: one no row can have is a field error, not a database error."""
    number = value if isinstance(value, int) and 0 < value <= MAX_ID else parse_id(value)
    if number is None:
        raise ValueError("Not a valid choice.")
    return number
