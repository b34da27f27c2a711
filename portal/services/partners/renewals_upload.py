"""Read a customer's MyRenewals report (CSV or XLSX, as the Reports page writes it) for a quote.

Every refusal is an UploadError whose message names the row (as a spreadsheet numbers it: the
header is row 1) and the column, so the partner can fix the file or ask the customer for a new one.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import IO, Any

from portal.services.errors import DomainError
from portal.services.partners.bounded_xlsx import UnreadableXlsx, XlsxLimits, read_first_sheet
from portal.services.reports.my_reports import RENEWALS_COLUMNS

MAX_ROWS = 5000
MAX_FILE_BYTES = 4 * 1024 * 1024  # a MyRenewals CSV of MAX_ROWS devices is about 0.8 MB, the XLSX 0.2 MB
MAX_LINE_CHARS = 4096
MAX_SECONDS = 0.8  # the web worker is never held longer than a second by one upload
EPOCH_1900 = date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel counts a 29 February 1900 too)
EPOCH_1904 = date(1904, 1, 1)
FIELD = "file"
REQUIRED = ("model", "serial", "subscription_expiry", "battery_replace_by", "warranty_expiry")
DATE_KEYS = {c.key for c in RENEWALS_COLUMNS if c.kind == "date"}
_BY_HEADER = {c.header.casefold(): c for c in RENEWALS_COLUMNS}
_HEADER_OF = {c.key: c.header for c in RENEWALS_COLUMNS}


class UploadError(DomainError):
    """The uploaded file cannot be used for a quote; the message says where and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field=FIELD)


def _date(value: Any, row: int, key: str, date1904: bool = False) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, float) and 1 <= value < 2_958_466:  # an Excel serial day, up to 9999-12-31
        return (EPOCH_1904 if date1904 else EPOCH_1900) + timedelta(days=int(value))
    text = _text(value)
    for parse in (date.fromisoformat, lambda t: datetime.strptime(t, "%d %b %Y").date()):
        try:
            return parse(text)
        except ValueError:
            continue
    raise UploadError(
        f'Row {row}, column "{_HEADER_OF[key]}": "{text[:40]}" is not a date. Use YYYY-MM-DD, like 2027-03-31.'
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a serial number Excel stored as a number
    text = str(value).strip()
    return text[1:] if text.startswith("'") else text  # the report's guard against spreadsheet formulas


def _columns(header: list[Any]) -> dict[int, str]:
    """Column index -> report key; UploadError naming the missing columns."""
    found: dict[int, str] = {}
    for i, name in enumerate(header):
        column = _BY_HEADER.get(_text(name).casefold())
        if column is not None and column.key not in found.values():
            found[i] = column.key
    missing = [_HEADER_OF[key] for key in REQUIRED if key not in found.values()]
    if missing:
        names = ", ".join(f'"{m}"' for m in missing)
        raise UploadError(
            f"Row 1 (the header) lacks the column{'s' if len(missing) > 1 else ''} {names}. "
            "Upload the MyRenewals report as downloaded from Reports."
        )
    return found


def _rows_from_csv(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UploadError(
            f'The file is not UTF-8 text (row {line} has a byte it cannot read). Save it as "CSV UTF-8" and upload it again.'
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # Excel in many locales writes ;
    reader = csv.reader(_bounded_lines(text), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        raise UploadError(f"Row {reader.line_num}: the CSV cannot be read ({error}).") from None


def _bounded_lines(text: str) -> Iterator[str]:
    # A line cap keeps one row (and csv's field buffer) small whatever the file holds.
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise UploadError(
                f"Line {number} is longer than {MAX_LINE_CHARS:,} characters; a MyRenewals row is about 150. "
                "Upload the report as downloaded."
            )
        yield line


def _rows_from_xlsx(
    data: bytes, max_rows: int, deadline: float
) -> tuple[Iterator[tuple[int, list[Any]]], bool]:
    limits = XlsxLimits(max_rows=max_rows + 1, seconds=MAX_SECONDS)
    try:
        rows, date1904 = read_first_sheet(data, limits, deadline)
    except UnreadableXlsx as error:
        raise UploadError(str(error)) from None
    return _translated(rows), date1904


def _translated(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from rows
    except UnreadableXlsx as error:
        raise UploadError(str(error)) from None


def parse_renewals(
    filename: str, source: bytes | IO[bytes], max_rows: int | None = None
) -> list[dict[str, Any]]:
    """The devices of a MyRenewals file: one dict per row with the report's keys, dates as dates.

    Every cost is bounded before it is paid: the bytes read, the line length, the rows, the XLSX's
    parts (see bounded_xlsx) and the wall time, each refusal naming its limit."""
    max_rows = MAX_ROWS if max_rows is None else max_rows
    data = source if isinstance(source, bytes) else source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UploadError(
            f"The file is larger than {MAX_FILE_BYTES // 1_048_576} MB, more than a MyRenewals report of "
            f"{MAX_ROWS:,} devices needs. Split it into several quotes."
        )
    deadline = time.monotonic() + MAX_SECONDS
    name = (filename or "").strip()
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not data:
        raise UploadError("The file is empty. Upload the MyRenewals report (CSV or XLSX).")
    is_zip = data[:2] == b"PK"
    date1904 = False
    if extension == "xlsx" or (extension == "csv" and is_zip):
        if not is_zip:
            raise UploadError("The file is named .xlsx but is not an Excel workbook.")
        rows, date1904 = _rows_from_xlsx(data, max_rows, deadline)
    elif extension == "csv":
        rows = _rows_from_csv(data)
    else:
        shown = f".{extension}" if extension else "a file without an extension"
        raise UploadError(f"Upload the MyRenewals report as .csv or .xlsx; this is {shown}.")

    first = next(rows, None)
    if first is None:
        raise UploadError("The file has no rows. Upload the MyRenewals report (CSV or XLSX).")
    columns = _columns(first[1])
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, cells in rows:
        if time.monotonic() > deadline:
            raise UploadError(
                f"Row {number}: the file takes longer than {MAX_SECONDS:g} s to read, the most this server "
                "spends on one upload. Split it into several quotes."
            )
        if all(_text(cell) == "" for cell in cells):
            continue
        if len(parsed) >= max_rows:
            raise UploadError(
                f"Row {number}: the file has more than {max_rows:,} devices. Split it into several quotes."
            )
        record: dict[str, Any] = {"row": number}
        for i, key in columns.items():
            value = cells[i] if i < len(cells) else None
            record[key] = _date(value, number, key, date1904) if key in DATE_KEYS else _text(value)
        for key in ("model", "serial"):
            if not record[key]:
                raise UploadError(f'Row {number}, column "{_HEADER_OF[key]}": the value is empty.')
            if len(record[key]) > 40:
                raise UploadError(f'Row {number}, column "{_HEADER_OF[key]}": longer than 40 characters.')
        record["serial"] = record["serial"].upper()
        if record["serial"] in seen:
            raise UploadError(
                f"Row {number}: serial number {record['serial']} already appears in row {seen[record['serial']]}."
            )
        seen[record["serial"]] = number
        parsed.append(record)
    if not parsed:
        raise UploadError("The file lists no devices: only the header row was found.")
    return parsed
