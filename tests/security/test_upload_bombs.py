"""Upload bombs: every hostile MyRenewals file is refused in place, fast and small; a real export still quotes.

The bombs are built here, in the test, the way an attacker would build them. Each goes through the real
route (POST /quotes/upload as a partner) and must come back as the quotes page with a message naming
the limit, a 4xx, no quote stored, in under a second and with under 50 MB of memory growth.
"""

from __future__ import annotations

import io
import re
import time
import tracemalloc
import zipfile
from datetime import date

import pytest

from portal.extensions import db
from portal.models import CompanyKind, Quote
from portal.services.reports import my_reports
from tests.portal.factories import login, make_device, make_user

SECOND = 1.0
FIFTY_MB = 50 * 1024 * 1024
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
HEADER = [c.header for c in my_reports.RENEWALS_COLUMNS]


# ---------------------------------------------------------------------------------------------
# Building workbooks by hand, part by part


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _header_row() -> str:
    return '<row r="1">' + "".join(_inline(f"{chr(65 + i)}1", h) for i, h in enumerate(HEADER)) + "</row>"


def _sheet(rows: str = "", dimension: str | None = "A1:J2", prolog: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet {NS}>{dim}<sheetData>{_header_row()}{rows}'
        "</sheetData></worksheet>"
    ).encode()


def _workbook(sheet: bytes, shared: bytes | None = None, blank: tuple[str, int] | None = None) -> bytes:
    """A minimal XLSX: the parts Excel needs to open it, with the given sheet (and shared strings);
    `blank` = (part, size) writes that part as `size` bytes of spaces instead, streamed."""
    rels = (
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
    )
    parts = {
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook {NS} '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="MyRenewals" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    if shared is not None:
        rels += (
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            'Target="sharedStrings.xml"/>'
        )
        parts["xl/sharedStrings.xml"] = shared
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in parts.items():
            if blank is None or name != blank[0]:
                book.writestr(name, data)
                continue
            with book.open(name, "w", force_zip64=True) as stream:
                chunk = b" " * (1024 * 1024)
                for _ in range(blank[1] // len(chunk)):
                    stream.write(chunk)
    return buffer.getvalue()


def _device_rows(count: int, cells: int = 3) -> str:
    """`count` device rows after the header, each with its first `cells` columns (model, serial...)."""
    values = ["Acme", "SMT1500C", "AS{n}"]
    return "".join(
        f'<row r="{n}">'
        + "".join(_inline(f"{chr(65 + i)}{n}", values[i].format(n=n)) for i in range(cells))
        + "</row>"
        for n in range(2, count + 2)
    )


def _zip_bomb(member: str, size: int) -> bytes:
    """A workbook whose `member` unpacks to `size` bytes of blanks, streamed so the test stays small."""
    return _workbook(_sheet(_device_rows(3)), _shared_strings(3, declared=True), blank=(member, size))


def _many_members(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as book:
        for n in range(count):
            book.writestr(f"xl/media/{n}.bin", b"")
    return buffer.getvalue()


LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)
XXE = '<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'


def _shared_strings(count: int, declared: bool) -> bytes:
    counts = f' count="{count}" uniqueCount="{count}"' if declared else ""
    # Distinct strings: repeated ones would be refused earlier, by the compression ratio.
    items = "".join(f"<si><t>{n:x}</t></si>" for n in range(count))
    return f'<?xml version="1.0"?><sst {NS}{counts}>{items}</sst>'.encode()


def _deep_sheet(levels: int) -> bytes:
    # Distinct names keep the ratio low, so the depth limit is the one that answers.
    opening = "".join(f"<x{n}>" for n in range(levels))
    closing = "".join(f"</x{n}>" for n in reversed(range(levels)))
    return _sheet(rows=f'<row r="2">{opening}{closing}</row>')


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


CSV_HEADER = ",".join(HEADER)

# (id, filename, builder, the limit the message must name)
BOMBS = [
    (
        "dimension A1:XFD1048576",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(_device_rows(3), dimension="A1:XFD1048576")),
        r"declares the range A1:XFD1048576",
    ),
    (
        "a cell in column XFD",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet('<row r="2"><c r="XFD2"><v>1</v></c></row>', dimension=None)),
        r"beyond column Z",
    ),
    (
        "16,384 cells without references",
        "MyRenewals.xlsx",
        lambda: _workbook(
            _sheet(
                '<row r="2">' + "".join(f"<c><v>{n}</v></c>" for n in range(16_384)) + "</row>",
                dimension=None,
            )
        ),
        r"Cell AA2: the sheet goes beyond column Z",
    ),
    (
        "shared strings declared 100k",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(), _shared_strings(100_000, declared=True)),
        r"100,000 shared strings, more than the 20,000",
    ),
    (
        "shared strings undeclared 0.79 MB",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(), _shared_strings(50_000, declared=False)),
        r"more than the 20,000",
    ),
    (
        "100k rows, dimension declared",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(_device_rows(100_000, cells=1), dimension="A1:J100001")),
        r"100,001 rows by 10 columns",
    ),
    (
        "100k rows, no dimension",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(_device_rows(100_000), dimension=None)),
        r"sheet1.xml unpacks to 17.5 MB, more than the 16 MB",
    ),
    (
        "10k rows, no dimension",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(_device_rows(10_000), dimension=None)),
        r"Row 5,002: the sheet goes beyond row 5,001",
    ),
    (
        "100k rows CSV",
        "MyRenewals.csv",
        lambda: _csv(CSV_HEADER, *[f"Acme,SMT1500C,AS{n},,,,,,," for n in range(100_000)]),
        r"more than 5,000 devices",
    ),
    (
        "CSV line of 1 MB",
        "MyRenewals.csv",
        lambda: _csv(CSV_HEADER, "Acme,SMT1500C," + "A" * 1_000_000),
        r"Line 2 is longer than 4,096 characters",
    ),
    (
        "CSV not UTF-8",
        "MyRenewals.csv",
        lambda: _csv(CSV_HEADER) + b"Acme,SMT\xff\xfe1500C,AS1,,,,,,,\r\n",
        r"not UTF-8 text \(row 2",
    ),
    (
        "CSV of 5 MB",
        "MyRenewals.csv",
        lambda: _csv(CSV_HEADER) + b"x" * (5 * 1024 * 1024),
        r"larger than 4 MB",
    ),
    ("deep XML", "MyRenewals.xlsx", lambda: _workbook(_deep_sheet(100_000)), r"nests deeper than 16 levels"),
    (
        "billion laughs in the sheet",
        "MyRenewals.xlsx",
        lambda: _workbook(
            _sheet('<row r="2"><c r="A2" t="inlineStr"><is><t>&lol3;</t></is></c></row>', prolog=LAUGHS)
        ),
        r"declares a DOCTYPE or entities",
    ),
    (
        "billion laughs in shared strings",
        "MyRenewals.xlsx",
        lambda: _workbook(
            _sheet(), f'<?xml version="1.0"?>{LAUGHS}<sst {NS}><si><t>&lol3;</t></si></sst>'.encode()
        ),
        r"declares a DOCTYPE or entities",
    ),
    (
        "external entity (XXE) in the workbook",
        "MyRenewals.xlsx",
        lambda: _workbook(
            _sheet('<row r="2"><c r="A2" t="inlineStr"><is><t>&secret;</t></is></c></row>', prolog=XXE)
        ),
        r"declares a DOCTYPE or entities",
    ),
    (
        "zip bomb: a 64 MB sheet",
        "MyRenewals.xlsx",
        lambda: _zip_bomb("xl/worksheets/sheet1.xml", 64 * 1024 * 1024),
        r"unpacks to 64\.0 MB, more than the 16 MB|compressed more than 100 to 1",
    ),
    (
        "zip bomb: ratio 1000 to 1 under the size cap",
        "MyRenewals.xlsx",
        lambda: _zip_bomb("xl/sharedStrings.xml", 4 * 1024 * 1024),
        r"compressed more than 100 to 1",
    ),
    ("10,000 zip members", "MyRenewals.xlsx", lambda: _many_members(10_000), r"more than 64 parts"),
    (
        "PNG renamed .xlsx",
        "MyRenewals.xlsx",
        lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 2048,
        r"named \.xlsx but is not an Excel workbook",
    ),
    (
        "old .xls renamed .xlsx",
        "MyRenewals.xlsx",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048,
        r"named \.xlsx but is not an Excel workbook",
    ),
    (
        "a zip that is no workbook",
        "MyRenewals.xlsx",
        lambda: _many_members(3),
        r"not an Excel workbook that can be read",
    ),
    (
        "truncated zip",
        "MyRenewals.xlsx",
        lambda: _workbook(_sheet(_device_rows(3)))[:300],
        r"not an Excel workbook that can be read",
    ),
]


@pytest.fixture
def partner(app):
    return make_user(CompanyKind.PARTNER)


def _post(client, filename: str, data: bytes):
    return client.post(
        "/quotes/upload",
        data={"file": (io.BytesIO(data), filename), "customer_name": "Bomb Inc"},
        content_type="multipart/form-data",
    )


def _timed(client, filename: str, data: bytes):
    """The response and the worker's CPU seconds on it: the test client runs the app on this thread, and CPU
    time measures the work the upload costs, not what the neighbours on a shared test machine are doing."""
    client.get("/quotes/")  # the page's templates compiled first: that is a one-off, not the upload's cost
    started = time.thread_time()
    response = _post(client, filename, data)
    return response, time.thread_time() - started


def _memory_growth(client, filename: str, data: bytes) -> int:
    """Peak bytes the worker allocated while answering, traced in this process (the app runs here)."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        _post(client, filename, data)
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("filename", "build", "limit"), [b[1:] for b in BOMBS], ids=[b[0] for b in BOMBS])
def test_each_bomb_is_refused_in_place_fast_and_small(client, partner, filename, build, limit, monkeypatch):
    # Each bomb must meet its own limit, within a second of CPU (below): the wall-clock budget, which a
    # loaded machine can reach first, has its own test.
    monkeypatch.setattr("portal.services.partners.renewals_upload.MAX_SECONDS", 10.0)
    data = build()
    login(client, partner)
    response, seconds = _timed(client, filename, data)
    page = response.get_data(as_text=True).replace("&#34;", '"').replace("&#39;", "'")
    assert response.status_code == 422
    assert 'id="upload-quote-form"' in page  # the quotes page, the form re-rendered
    assert re.search(limit, page), page[page.find("file-errors") :][:600]
    assert seconds < SECOND, f"{seconds:.2f} s"
    assert db.session.query(Quote).count() == 0
    assert _memory_growth(client, filename, data) < FIFTY_MB


def test_an_11_mb_body_gets_the_portals_page_naming_the_limit(client, partner):
    body = b"x" * (11 * 1024 * 1024)
    login(client, partner)
    response, seconds = _timed(client, "MyRenewals.csv", body)
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "larger than 10 MB, the most this portal accepts" in page
    assert "exceeds the capacity limit" not in page  # not Werkzeug's generic text
    assert seconds < SECOND
    assert _memory_growth(client, "MyRenewals.csv", body) < FIFTY_MB
    assert db.session.query(Quote).count() == 0


def _every_route(app):
    """Each rule of the app's url_map with its arguments filled in, and each method it answers."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        values = dict.fromkeys(rule.arguments, 1)  # 1 suits both int and string converters
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule.build(values, append_unknown=False)[1]


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed in", "signed out"])
def test_every_route_answers_an_oversized_body_with_the_portals_413(app, client, partner, signed_in):
    if signed_in:
        login(client, partner)
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    routes = list(_every_route(app))
    assert len(routes) > 50
    for method, url in routes:
        response = client.open(url, method=method, data=body, content_type="application/octet-stream")
        page = response.get_data(as_text=True)
        assert response.status_code == 413, (method, url, response.status_code)
        assert "larger than 10 MB, the most this portal accepts" in page, (method, url)


def test_the_413_page_also_comes_when_csrf_reads_the_form_first(app, client, partner):
    login(client, partner)
    app.config["WTF_CSRF_ENABLED"] = True
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = _post(client, "MyRenewals.csv", b"x" * (2 * 1024 * 1024))
    assert response.status_code == 413 and "larger than 1 MB" in response.get_data(as_text=True)


def test_a_form_field_over_werkzeugs_memory_limit_is_named(app, client, partner):
    login(client, partner)
    response = client.post(
        "/quotes/upload", data={"customer_name": "x" * 600_000, "file": (io.BytesIO(b"a"), "a.csv")}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 413 and "A form field is longer than" in page


# ---------------------------------------------------------------------------------------------
# A real export still quotes


@pytest.fixture
def owner_export(app, partner):
    owner = make_user()
    for _ in range(3):
        make_device(owner)
    columns = my_reports.RENEWALS_COLUMNS
    today = date(2026, 11, 23)
    csv_bytes = "".join(my_reports.csv_stream(columns, my_reports.device_rows(owner, today=today))).encode()
    buffer = io.BytesIO()
    my_reports.write_xlsx(buffer, "MyRenewals", columns, my_reports.device_rows(owner, today=today))
    return {"csv": csv_bytes, "xlsx": buffer.getvalue()}


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_myrenewals_export_from_the_reports_page_still_quotes(client, partner, owner_export, kind):
    login(client, partner)
    response, seconds = _timed(client, f"MyRenewals.{kind}", owner_export[kind])
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]
    assert seconds < SECOND
    quote = db.session.get(Quote, response.headers["Location"].rsplit("/", 1)[-1])
    assert len(quote.lines) == 3 and quote.customer_name == "Bomb Inc"


def test_a_full_size_export_of_5000_devices_fits_every_limit(monkeypatch):
    """The structural limits admit the largest MyRenewals allowed (its parse time is a benchmark figure, not
    asserted here: a shared test machine's clock says more about the neighbours than about the parser)."""
    from portal.services.partners import renewals_upload
    from portal.services.partners.renewals_upload import MAX_ROWS, parse_renewals

    monkeypatch.setattr(renewals_upload, "MAX_SECONDS", 30.0)

    rows = [
        {
            "customer": "Acme",
            "model": "SMT1500C",
            "serial": f"AS26{n:08d}",
            "plan": "Standard",
            "subscription_expiry": date(2027, 3, 1),
            "warranty_expiry": date(2027, 3, 31),
        }
        for n in range(MAX_ROWS)
    ]
    buffer = io.BytesIO()
    my_reports.write_xlsx(buffer, "MyRenewals", my_reports.RENEWALS_COLUMNS, rows)
    parsed = parse_renewals("MyRenewals.xlsx", buffer.getvalue())
    assert len(parsed) == MAX_ROWS and parsed[-1]["warranty_expiry"] == date(2027, 3, 31)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_time_budget_refuses_with_a_message(client, partner, owner_export, monkeypatch, kind):
    monkeypatch.setattr("portal.services.partners.renewals_upload.MAX_SECONDS", 0.0)
    login(client, partner)
    response = _post(client, f"MyRenewals.{kind}", owner_export[kind])
    assert response.status_code == 422
    assert "takes longer than 0 s to read, the most this server spends on one upload" in response.get_data(
        as_text=True
    )
    assert db.session.query(Quote).count() == 0
