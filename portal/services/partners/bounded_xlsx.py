"""Read the first sheet of an uploaded XLSX with every cost bounded before it is paid.

openpyxl trusts the file: its read-only mode pads every row to the declared dimension (a 1.6 KB file
declaring A1:XFD1048576 costs minutes) and loads the whole shared-strings table before the first row.
This reader streams the zip members through expat itself: it checks the zip's directory (members,
sizes, ratio), refuses DOCTYPEs and entities, limits nesting depth, the declared dimension, rows,
columns, shared strings and cell length, and stops at a wall-clock deadline.
"""

from __future__ import annotations

import posixpath
import re
import struct
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pyexpat import XML_PARAM_ENTITY_PARSING_NEVER, ExpatError, ParserCreate
from typing import Any

CHUNK_BYTES = 64 * 1024
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
_CELL_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,7})$")
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class UnreadableXlsx(Exception):
    """The workbook is refused; the message, for the user, names the limit or the damage."""


@dataclass(frozen=True)
class XlsxLimits:
    max_rows: int  # header included
    max_columns: int = 26  # A..Z; MyRenewals has 10
    max_members: int = 64  # an XlsxWriter file has 9, one saved by Excel about 12
    max_sheet_bytes: int = 16 * 1024 * 1024  # uncompressed; 5,000 MyRenewals rows are 2.6 MB
    max_shared_strings_bytes: int = 8 * 1024 * 1024
    max_part_bytes: int = 1024 * 1024  # workbook.xml, its relationships
    max_ratio: int = 100  # uncompressed / compressed; a MyRenewals sheet is about 14
    max_shared_strings: int = 20_000  # Excel keeps each text once: 5,000 serials and a few names and SKUs
    max_depth: int = 16  # a sheet nests 7 deep (worksheet/sheetData/row/c/is/r/t)
    seconds: float = 0.8


def column_letters(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index


def _split_ref(ref: str) -> tuple[int, int] | None:
    """'B7' -> (row 7, column 2); None when it is not a cell reference."""
    match = _CELL_REF.match(ref.strip().upper().replace("$", ""))
    return (int(match.group(2)), _column_index(match.group(1))) if match else None


class _Bounded:
    """One upload's budget: the deadline and the limits, shared by every part read."""

    def __init__(self, data: bytes, limits: XlsxLimits, deadline: float | None) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds if deadline is None else deadline
        self.zip = self._open(data)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise UnreadableXlsx(
                f"The workbook takes longer than {self.limits.seconds:g} s to read, the most this server spends "
                "on one upload. Upload the MyRenewals report as downloaded (CSV or XLSX)."
            )

    def _open(self, data: bytes) -> zipfile.ZipFile:
        # The member count is read from the end record before zipfile parses the directory.
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
        if end < 0 or len(data) < end + 22:
            raise UnreadableXlsx(
                "The file is not an Excel workbook that can be read. Upload the .xlsx or .csv MyRenewals report."
            )
        (members,) = struct.unpack("<H", data[end + 10 : end + 12])
        if members > self.limits.max_members:
            raise UnreadableXlsx(
                f"The workbook holds more than {self.limits.max_members} parts; a MyRenewals report has about 10. "
                "Upload the report as downloaded."
            )
        try:
            return zipfile.ZipFile(BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            raise UnreadableXlsx(
                "The file is not an Excel workbook that can be read. Upload the .xlsx or .csv MyRenewals report."
            ) from None

    def member(self, name: str, max_bytes: int) -> zipfile.ZipInfo | None:
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            return None
        if info.file_size > max_bytes:
            raise UnreadableXlsx(
                f"The part {name} unpacks to {info.file_size / 1_048_576:.1f} MB, more than the "
                f"{max_bytes / 1_048_576:g} MB this server reads. Upload the MyRenewals report as downloaded."
            )
        if info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
            raise UnreadableXlsx(
                f"The part {name} is compressed more than {self.limits.max_ratio} to 1, like a zip bomb. "
                "Upload the MyRenewals report as downloaded."
            )
        return info

    def parse(self, info: zipfile.ZipInfo, max_bytes: int, handler: _Handler) -> Iterator[None]:
        """Feed the member to expat in chunks; yields after each chunk so rows can be handed on."""
        parser = _safe_parser(handler)
        read = 0
        try:
            with self.zip.open(info) as stream:
                while chunk := stream.read(CHUNK_BYTES):
                    read += len(chunk)
                    if read > max_bytes:  # the directory's size may lie; count what comes out
                        raise UnreadableXlsx(
                            f"The part {info.filename} unpacks to more than {max_bytes / 1_048_576:g} MB. "
                            "Upload the MyRenewals report as downloaded."
                        )
                    parser.Parse(chunk, False)
                    self.check_time()
                    yield
            parser.Parse(b"", True)
        except ExpatError as error:
            raise UnreadableXlsx(
                f"The workbook is damaged: {info.filename} is not well-formed XML (line {error.lineno})."
            ) from None
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError):
            raise UnreadableXlsx(f"The workbook is damaged: {info.filename} cannot be unpacked.") from None
        yield

    def parse_all(self, info: zipfile.ZipInfo, max_bytes: int, handler: _Handler) -> None:
        for _ in self.parse(info, max_bytes, handler):
            pass


class _Handler:
    """Expat callbacks for one part. enter() counts the depth and maps the namespaced name to its
    local name through a cache: the callbacks run once per element, so they stay cheap."""

    def __init__(self, max_depth: int) -> None:
        self.depth = 0
        self.max_depth = max_depth
        self.names: dict[str, str] = {}

    def enter(self, name: str) -> str:
        self.depth += 1
        if self.depth > self.max_depth:
            self.too_deep()
        return self.names.get(name) or self.learn(name)

    def too_deep(self) -> None:
        raise UnreadableXlsx(f"The workbook's XML nests deeper than {self.max_depth} levels; it is refused.")

    def learn(self, name: str) -> str:
        return self.names.setdefault(name, name.rsplit(" ", 1)[-1])

    def leave(self, name: str) -> str:
        self.depth -= 1
        return self.names[name]

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.enter(name)

    def end(self, name: str) -> None:
        self.leave(name)

    def text(self, data: str) -> None:
        pass


def _refuse_dtd(*_: Any) -> None:
    raise UnreadableXlsx(
        "The workbook declares a DOCTYPE or entities, which Excel never writes; it is refused."
    )


def _safe_parser(handler: _Handler):
    # No DTD, no entities (internal or external): the XML of an XLSX needs neither. Depth: the handler.
    parser = ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.buffer_text = True
    parser.buffer_size = CHUNK_BYTES
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    return parser


class _Workbook(_Handler):
    def __init__(self, max_depth: int) -> None:
        super().__init__(max_depth)
        self.first_sheet_rel: str | None = None
        self.date1904 = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = self.enter(name)
        if tag == "workbookPr":
            self.date1904 = attrs.get("date1904", "0").lower() in {"1", "true"}
        elif tag == "sheet" and self.first_sheet_rel is None:
            self.first_sheet_rel = attrs.get(f"{_NS_REL} id")


class _Relationships(_Handler):
    def __init__(self, max_depth: int) -> None:
        super().__init__(max_depth)
        self.targets: dict[str, str] = {}
        self.shared_strings: str | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.enter(name) == "Relationship":
            target = attrs.get("Target", "")
            self.targets[attrs.get("Id", "")] = target
            if attrs.get("Type", "").endswith("/sharedStrings"):
                self.shared_strings = target


class _Text(_Handler):
    """Collects the text of <t> (or <v>) inside one string item or cell, skipping phonetic runs."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(max_depth)
        self.parts: list[str] | None = None
        self.length = 0
        self.in_t = False
        self.in_phonetic = False

    def begin(self) -> None:
        self.parts, self.length = [], 0

    def take(self) -> str:
        text = "".join(self.parts or ())
        self.parts = None
        return text

    def text(self, data: str) -> None:
        if self.parts is not None and self.in_t and not self.in_phonetic:
            self.length += len(data)
            if self.length > MAX_CELL_CHARS:
                raise UnreadableXlsx(
                    f"A cell holds more than {MAX_CELL_CHARS:,} characters, more than Excel allows."
                )
            self.parts.append(data)


class _SharedStrings(_Text):
    def __init__(self, limits: XlsxLimits) -> None:
        super().__init__(limits.max_depth)
        self.limit = limits.max_shared_strings
        self.strings: list[str] = []

    def _too_many(self, count: int) -> None:
        raise UnreadableXlsx(
            f"The workbook has {count:,} shared strings, more than the {self.limit:,} a MyRenewals report can hold. "
            "Upload the report as downloaded."
        )

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = self.enter(name)
        if tag == "t":
            self.in_t = True
        elif tag == "si":
            if len(self.strings) >= self.limit:
                self._too_many(len(self.strings) + 1)
            self.begin()
        elif tag == "rPh":
            self.in_phonetic = True
        elif tag == "sst":
            declared = _int(attrs.get("uniqueCount"))
            if declared > self.limit:
                self._too_many(declared)

    def end(self, name: str) -> None:
        tag = self.leave(name)
        if tag == "t":
            self.in_t = False
        elif tag == "si":
            self.strings.append(self.take())
        elif tag == "rPh":
            self.in_phonetic = False


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


class _Sheet(_Text):
    def __init__(self, shared: list[str], limits: XlsxLimits) -> None:
        super().__init__(limits.max_depth)
        self.shared = shared
        self.limits = limits
        self.rows: list[tuple[int, list[Any]]] = []
        self.row: dict[int, Any] | None = None
        self.row_number = 0
        self.column = 0
        self.kind = "n"
        self.in_sheet_data = False
        self.columns: dict[str, int] = {}

    def start(self, name: str, attrs: dict[str, str]) -> None:
        # Inlined enter(): this runs for every cell of the sheet.
        self.depth += 1
        if self.depth > self.max_depth:
            self.too_deep()
        tag = self.names.get(name) or self.learn(name)
        if tag == "c":
            if self.row is None:
                return
            ref = attrs.get("r")
            self.column = self._column_of(ref) if ref else self.column + 1
            if self.column > self.limits.max_columns:
                self._too_wide(ref)
            self.kind = attrs.get("t", "n")
            self.parts, self.length = [], 0
        elif tag == "v" or tag == "t":
            self.in_t = True
        elif tag == "row" and self.in_sheet_data:
            number = _int(attrs.get("r")) or self.row_number + 1
            if number > self.limits.max_rows:
                raise UnreadableXlsx(
                    f"Row {number:,}: the sheet goes beyond row {self.limits.max_rows:,}; a MyRenewals report has "
                    f"a header and {self.limits.max_rows - 1:,} devices at most. Split it into several quotes."
                )
            self.row_number = number
            self.row, self.column = {}, 0
        elif tag == "rPh":
            self.in_phonetic = True
        elif tag == "sheetData":
            self.in_sheet_data = True
        elif tag == "dimension":
            self._check_dimension(attrs.get("ref", ""))

    def _column_of(self, ref: str) -> int:
        letters = ref.rstrip("0123456789")
        column = self.columns.get(letters)
        if column is None:
            upper = letters.upper()
            column = _column_index(upper) if upper.isalpha() and upper.isascii() and len(upper) <= 3 else 0
            if 0 < column <= self.limits.max_columns:  # only real, allowed columns are kept
                self.columns[letters] = column
        return column or self.column + 1

    def _too_wide(self, ref: str | None) -> None:
        shown = (ref or f"{column_letters(self.column)}{self.row_number}")[:12]
        raise UnreadableXlsx(
            f"Cell {shown}: the sheet goes beyond column {column_letters(self.limits.max_columns)}; a MyRenewals "
            f"report has {self.limits.max_columns} columns at most. Upload the report as downloaded."
        )

    def _check_dimension(self, ref: str) -> None:
        last = _split_ref(ref.rsplit(":", 1)[-1])
        if last and (last[0] > self.limits.max_rows or last[1] > self.limits.max_columns):
            raise UnreadableXlsx(
                f"The sheet declares the range {ref[:40]}: {last[0]:,} rows by {last[1]:,} columns, more than a "
                f"MyRenewals report's {self.limits.max_rows:,} rows by {self.limits.max_columns} columns. "
                "Upload the report as downloaded."
            )

    def end(self, name: str) -> None:
        self.depth -= 1
        tag = self.names[name]
        if tag == "c":
            if self.row is not None:
                value = self._value("".join(self.parts) if self.parts else "")
                self.parts = None
                if value is not None:
                    self.row[self.column] = value
        elif tag == "v" or tag == "t":
            self.in_t = False
        elif tag == "row" and self.row is not None:
            if self.row:
                cells: list[Any] = [None] * max(self.row)
                for column, value in self.row.items():
                    cells[column - 1] = value
                self.rows.append((self.row_number, cells))
            self.row = None
        elif tag == "rPh":
            self.in_phonetic = False
        elif tag == "sheetData":
            self.in_sheet_data = False

    def _value(self, raw: str) -> Any:
        kind = self.kind
        if kind == "inlineStr" or kind == "str" or kind == "e" or kind == "d":
            return raw
        if raw == "":
            return None
        if kind == "s":
            index = _int(raw)
            if not 0 <= index < len(self.shared):
                raise UnreadableXlsx(
                    f"Row {self.row_number}: a cell points to a shared string the workbook lacks."
                )
            return self.shared[index]
        if kind == "b":
            return raw == "1"
        try:
            return float(raw)
        except ValueError:
            return raw


def _resolve(base: str, target: str) -> str:
    """A relationship target, relative to xl/ or absolute from the package root."""
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))


def read_first_sheet(
    data: bytes, limits: XlsxLimits, deadline: float | None = None
) -> tuple[Iterator[tuple[int, list[Any]]], bool]:
    """(rows of the first sheet as (row number, cells), whether dates count from 1904).

    The workbook, its relationships and the shared strings are read now; the sheet is read as the
    rows are taken, so a caller that stops early reads no further. `deadline` (time.monotonic) lets
    the caller's own work share the budget. Raises UnreadableXlsx."""
    book = _Bounded(data, limits, deadline)
    not_xlsx = UnreadableXlsx(
        "The file is not an Excel workbook that can be read. Upload the .xlsx or .csv MyRenewals report."
    )
    workbook_info = book.member("xl/workbook.xml", limits.max_part_bytes)
    rels_info = book.member("xl/_rels/workbook.xml.rels", limits.max_part_bytes)
    if workbook_info is None or rels_info is None:
        raise not_xlsx
    workbook, rels = _Workbook(limits.max_depth), _Relationships(limits.max_depth)
    book.parse_all(workbook_info, limits.max_part_bytes, workbook)
    book.parse_all(rels_info, limits.max_part_bytes, rels)
    target = rels.targets.get(workbook.first_sheet_rel or "")
    sheet_info = book.member(_resolve("xl", target), limits.max_sheet_bytes) if target else None
    if sheet_info is None:
        raise not_xlsx
    shared = _SharedStrings(limits)
    shared_info = book.member(
        _resolve("xl", rels.shared_strings or "sharedStrings.xml"), limits.max_shared_strings_bytes
    )
    if shared_info is not None:
        book.parse_all(shared_info, limits.max_shared_strings_bytes, shared)
    return _rows(book, sheet_info, _Sheet(shared.strings, limits)), workbook.date1904


def _rows(book: _Bounded, info: zipfile.ZipInfo, sheet: _Sheet) -> Iterator[tuple[int, list[Any]]]:
    for _ in book.parse(info, book.limits.max_sheet_bytes, sheet):
        rows, sheet.rows = sheet.rows, []
        for row in rows:
            yield row
            book.check_time()
