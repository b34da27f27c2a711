"""Read a customer's MyRenewals report (CSV or XLSX, as the Reports page writes it) for a quote.

Every refusal is an UploadError whose message names the row (as a spreadsheet numbers it: the
header is row 1) and the column, so the partner can fix the file or ask the customer for a new one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from portal.services.errors import DomainError
from portal.services.reports.my_reports import RENEWALS_COLUMNS

MAX_ROWS = 5000
FIELD = "file"
REQUIRED = ("model", "serial", "subscription_expiry", "battery_replace_by", "warranty_expiry")
DATE_KEYS = {c.key for c in RENEWALS_COLUMNS if c.kind == "date"}
_BY_HEADER = {c.header.casefold(): c for c in RENEWALS_COLUMNS}
_HEADER_OF = {c.key: c.header for c in RENEWALS_COLUMNS}


class UploadError(DomainError):
    """The uploaded file cannot be used for a quote; the message says where and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field=FIELD)


def _date(value: Any, row: int, key: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
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


def _rows_from_csv(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UploadError(
            f'The file is not UTF-8 text (row {line} has a byte it cannot read). Save it as "CSV UTF-8" and upload it again.'
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # Excel in many locales writes ;
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as error:
        raise UploadError(f"Row {reader.line_num}: the CSV cannot be read ({error}).") from None


def _rows_from_xlsx(data: bytes) -> Iterator[list[Any]]:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is installed with the portal
        raise UploadError("This server cannot read Excel files; upload the MyRenewals CSV instead.") from None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
    except Exception:
        raise UploadError(
            "The file is not an Excel workbook that can be read. Upload the .xlsx or .csv MyRenewals report."
        ) from None
    try:
        for row in rows:
            yield list(row)
    except Exception:
        raise UploadError("The Excel workbook is damaged and cannot be read to the end.") from None
    finally:
        workbook.close()


def parse_renewals(filename: str, data: bytes, max_rows: int | None = None) -> list[dict[str, Any]]:
    """The devices of a MyRenewals file: one dict per row with the report's keys, dates as dates."""
    max_rows = MAX_ROWS if max_rows is None else max_rows
    name = (filename or "").strip()
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not data:
        raise UploadError("The file is empty. Upload the MyRenewals report (CSV or XLSX).")
    is_zip = data[:2] == b"PK"
    if extension == "xlsx" or (extension == "csv" and is_zip):
        if not is_zip:
            raise UploadError("The file is named .xlsx but is not an Excel workbook.")
        rows = _rows_from_xlsx(data)
    elif extension == "csv":
        rows = _rows_from_csv(data)
    else:
        shown = f".{extension}" if extension else "a file without an extension"
        raise UploadError(f"Upload the MyRenewals report as .csv or .xlsx; this is {shown}.")

    header = next(rows, None)
    if header is None:
        raise UploadError("The file has no rows. Upload the MyRenewals report (CSV or XLSX).")
    columns = _columns(header)
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows, start=2):
        if all(_text(cell) == "" for cell in cells):
            continue
        if len(parsed) >= max_rows:
            raise UploadError(
                f"Row {number}: the file has more than {max_rows:,} devices. Split it into several quotes."
            )
        record: dict[str, Any] = {"row": number}
        for i, key in columns.items():
            value = cells[i] if i < len(cells) else None
            record[key] = _date(value, number, key) if key in DATE_KEYS else _text(value)
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
