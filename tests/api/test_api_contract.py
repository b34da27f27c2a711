"""The OpenAPI document is valid, describes every /api/v1 route, and every answer matches it.

Each documented operation is called with a token of each scope (read, commands, licensing, all of them):
an operation answers 2xx to a token holding its scope and a 403 insufficient-scope problem to the others,
and every answer's status, media type and body are checked against the document with jsonschema. A
bounded Hypothesis run then throws odd path ids, query values and JSON bodies at every operation: no
answer is a 5xx, and each is one the document lists, shaped as it says.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from portal.extensions import db
from portal.models import ApiCall
from tests.api.api_world import SCOPE_SETS, bearer, build, good_body

PROBLEM = "application/problem+json"


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(spec) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def check_against_document(spec: dict, op: dict, response) -> None:
    """The status is one the operation lists, with the media type and body schema it names."""
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, f"{op['operationId']}: {response.status_code} is not documented"
    content = documented.get("content")
    if not content:
        return
    media = response.mimetype
    assert media in content, f"{op['operationId']}: {media} not in {list(content)}"
    schema = {**content[media]["schema"], "components": spec["components"]}
    body = response.get_json() if media.endswith("json") else response.get_data(as_text=True)
    errors = sorted(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(body), key=str)
    assert not errors, f"{op['operationId']} {response.status_code}: {errors[0].message} at {list(errors[0].path)}"


def fill_path(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_api_route_is_in_the_document_and_the_document_has_nothing_else(app, spec):
    routes = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint not in {"api.openapi_document", "api.docs"}
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method, path) for method, path, _ in operations(spec)}
    assert routes == documented
    assert len(documented) >= 9


@pytest.mark.parametrize("scope_set", sorted(SCOPE_SETS))
def test_every_operation_with_a_token_of_each_scope(app, client, spec, scope_set):
    world = build(app)
    values = {"device_id": str(world.device.id), "command_id": world.command_id}
    held = set(SCOPE_SETS[scope_set])
    for method, path, op in operations(spec):
        url = fill_path(path, values)
        before = db.session.query(ApiCall).count()
        response = client.open(url, method=method, headers=bearer(world.secrets[scope_set]), json=good_body(world, op["operationId"]))
        check_against_document(spec, op, response)
        if op["x-scope"] in held:
            assert response.status_code < 300, f"{method} {url} with {scope_set}: {response.get_data(as_text=True)}"
        else:
            assert response.status_code == 403, f"{method} {url} with {scope_set}"
            assert response.get_json()["type"] == "/api/v1/docs#problem-insufficient-scope"
        # Every call is audited: token, method, path and status.
        assert db.session.query(ApiCall).count() == before + 1
        last = db.session.query(ApiCall).order_by(ApiCall.id.desc()).first()
        assert (last.method, last.path, last.status) == (method, url, response.status_code)


def test_errors_are_problems_with_a_stable_type(app, client, spec):
    world = build(app)
    h = bearer(world.secrets["all"])
    cases = [
        ("GET", "/api/v1/devices?mode=sideways", None, 400, "invalid-request"),
        ("GET", "/api/v1/devices?page=0", None, 400, "invalid-request"),
        ("GET", "/api/v1/devices?page=1&page=2", None, 400, "invalid-request"),
        ("GET", f"/api/v1/devices/{world.device.id}?unknown=1", None, 400, "invalid-request"),
        ("GET", f"/api/v1/devices/{world.device.id}/telemetry?range=1y", None, 400, "invalid-request"),
        ("GET", "/api/v1/devices/999999", None, 404, "not-found"),
        ("GET", "/api/v1/devices/0", None, 404, "not-found"),
        ("GET", f"/api/v1/devices/{world.device.id}/commands/not-a-command", None, 404, "not-found"),
        ("GET", "/api/v1/no-such-thing", None, 404, "not-found"),
        ("DELETE", f"/api/v1/devices/{world.device.id}", None, 405, "method-not-allowed"),
        ("POST", f"/api/v1/devices/{world.device.id}/commands", {"type": "self.destruct"}, 400, "invalid-request"),
        ("POST", f"/api/v1/devices/{world.device.id}/commands", {"type": "input.sensitivity", "args": {"sensitivity": "x"}},
         422, "command-refused"),
        ("POST", f"/api/v1/devices/{world.device.id}/commands", {"type": "outlet.group.cycle", "args": {"group": "Outlet Group 1"}},
         422, "command-refused"),  # Advanced only: the device is on its Standard trial
    ]
    for method, url, body, status, slug in cases:
        response = client.open(url, method=method, headers=h, json=body)
        assert response.status_code == status, (url, response.get_data(as_text=True))
        assert response.mimetype == PROBLEM
        problem = response.get_json()
        assert problem["type"] == f"/api/v1/docs#problem-{slug}" and problem["status"] == status and problem["detail"]
    refused = client.post(f"/api/v1/devices/{world.device.id}/commands", headers=h, json={"type": "outlet.group.cycle",
                          "args": {"group": "Outlet Group 1"}}).get_json()
    assert "needs the Advanced plan" in refused["detail"]
    as_form = client.post(f"/api/v1/devices/{world.device.id}/commands", headers=h, data={"type": "test.battery.start"})
    assert as_form.status_code == 415 and as_form.mimetype == PROBLEM
    not_object = client.post(f"/api/v1/devices/{world.device.id}/commands", headers=h, json=["test.battery.start"])
    assert not_object.status_code == 400


def test_a_device_on_basic_shows_only_its_mode(app, client, spec):
    """The plan table's rule, as on the device page: no readings, no telemetry history, no self-test on Basic."""
    world = build(app, trial=False)
    h = bearer(world.secrets["all"])
    live = client.get(f"/api/v1/devices/{world.device.id}/live", headers=h).get_json()
    assert live["mode"] == "online" and live["readings"] is None
    listed = client.get("/api/v1/devices", headers=h).get_json()["items"][0]
    assert listed["plan"] == "basic" and listed["load_percent"] is None
    history = client.get(f"/api/v1/devices/{world.device.id}/telemetry", headers=h)
    assert history.status_code == 403 and history.get_json()["type"] == "/api/v1/docs#problem-not-in-plan"
    test = client.post(f"/api/v1/devices/{world.device.id}/commands", headers=h, json={"type": "test.battery.start"})
    assert test.status_code == 422 and "Standard" in test.get_json()["detail"]


def test_device_list_filters_and_pages(app, client):
    from tests.portal.factories import make_device

    world = build(app)
    for n in range(30):
        make_device(world.owner, serial=f"AS27{n:08d}", model="SMT750I" if n % 2 else "SMT1500C")
    h = bearer(world.secrets["read"])
    first = client.get("/api/v1/devices?sort=name", headers=h).get_json()
    assert (first["total"], first["pages"], len(first["items"])) == (31, 2, 25)
    second = client.get("/api/v1/devices?sort=name&page=2", headers=h).get_json()
    assert len(second["items"]) == 6
    assert not {d["serial"] for d in first["items"]} & {d["serial"] for d in second["items"]}
    small = client.get("/api/v1/devices?model=SMT750I", headers=h).get_json()
    assert small["total"] == 15 and {d["model"] for d in small["items"]} == {"SMT750I"}
    found = client.get("/api/v1/devices?q=AS2700000003", headers=h).get_json()
    assert [d["serial"] for d in found["items"]] == ["AS2700000003"]


ODD = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.sampled_from(["", "0", "-1", "2147483648", "１２", "nan", "1e9", "%00", "..", "a b", "x" * 300]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@pytest.mark.timeout(300)
def test_fuzzed_calls_answer_only_what_the_document_says(app, client, spec):
    world = build(app)
    ops = operations(spec)
    h = bearer(world.secrets["all"])

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data(), index=st.integers(min_value=0, max_value=len(ops) - 1))
    def one_call(data, index):
        method, path, op = ops[index]
        own = {"device_id": str(world.device.id), "command_id": world.command_id}
        values = {name: data.draw(st.one_of(st.just(own[name]), ODD)) for name in re.findall(r"\{(\w+)\}", path)}
        url = fill_path(path, {k: re.sub(r"[/?#%]", "_", v) or "_" for k, v in values.items()})
        names = [p["name"] for p in op["parameters"] if p["in"] == "query"] + ["other"]
        query = data.draw(st.dictionaries(st.sampled_from(names), ODD, max_size=3))
        body = data.draw(st.one_of(st.just(good_body(world, op["operationId"])), JSON_VALUES, st.fixed_dictionaries(
            {"type": st.sampled_from(["test.battery.start", "input.sensitivity", "outlet.group.cycle", "x"]),
             "args": JSON_VALUES}), st.fixed_dictionaries(
            {"code": st.one_of(st.just(world.code), ODD), "device_ids": st.lists(st.one_of(
                st.just(world.device.id), st.integers()), max_size=3)}))) if method == "POST" else None
        response = client.open(url, method=method, headers=h, query_string=query, json=body)
        assert response.status_code < 500, (method, url, query, body)
        if response.status_code == 405 and values != own:
            # An id no row can have fails the converter after werkzeug has matched the path of the other method.
            assert response.mimetype == PROBLEM
            return
        check_against_document(spec, op, response)

    one_call()


def test_reports_as_json_and_as_the_pages_csv(app, client):
    from tests.portal.factories import login

    world = build(app)
    h = bearer(world.secrets["read"])
    inventory = client.get("/api/v1/reports/inventory", headers=h).get_json()
    assert inventory["report"] == "MyInventory"
    [row] = inventory["items"]
    assert row["serial"] == world.device.serial and row["load"] == 23 and row["plan"] == "Standard"
    renewals = client.get("/api/v1/reports/renewals", headers=h).get_json()
    assert "load" not in renewals["items"][0] and renewals["items"][0]["subscription_expiry"]
    csv = client.get("/api/v1/reports/renewals?format=csv", headers=h)
    assert csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)  # streamed: read before the next request
    login(client, world.owner)
    assert text == client.get("/reports/renewals.csv").get_data(as_text=True)
    assert world.device.serial in text
    own = client.get(f"/api/v1/reports/inventory?customer={world.owner.company_id}", headers=h)
    assert own.status_code == 200 and len(own.get_json()["items"]) == 1
    other = client.get(f"/api/v1/reports/inventory?customer={world.owner.company_id + 1}", headers=h)
    assert other.status_code == 404 and other.mimetype == PROBLEM


def test_activation_codes_verify_preview_and_assign_by_the_pages_rules(app, client):
    from portal.models import Entitlement
    from tests.portal.factories import make_device

    world = build(app)
    second = make_device(world.owner)
    h = bearer(world.secrets["licensing"])
    summary = client.post("/api/v1/activation-codes/verify", headers=h, json={"code": world.code.lower()}).get_json()
    assert (summary["sku"], summary["plan"], summary["months"], summary["remaining"]) == ("SCSTD1Y", "standard", 12, 50)
    assert "-" in summary["code"]
    body = {"code": world.code, "device_ids": [world.device.id, second.id]}
    preview = client.post("/api/v1/activation-codes/preview", headers=h, json=body)
    assert preview.status_code == 200
    assert db.session.query(Entitlement).filter(Entitlement.source == "license").count() == 0  # nothing written
    assigned = client.post("/api/v1/activation-codes/assign", headers=h, json=body)
    assert assigned.status_code == 201
    result = assigned.get_json()
    assert result["code"]["remaining"] == 48
    # The preview showed the very terms the assignment gave.
    shown = {p["device_id"]: p["new_terms"] for p in preview.get_json()["devices"]}
    assert {a["device_id"]: a["terms"] for a in result["assignments"]} == shown
    # The same device twice, an unknown code, a code with too few left: the licensing rule's own words, nothing taken.
    for bad, words in (
        ({"code": world.code, "device_ids": [second.id, second.id]}, "one license from a code at a time"),
        ({"code": "AAAAA-BBBBB-CCCCC", "device_ids": [second.id]}, ""),
    ):
        refused = client.post("/api/v1/activation-codes/assign", headers=h, json=bad)
        assert refused.status_code == 422 and refused.get_json()["type"] == "/api/v1/docs#problem-licensing-refused"
        assert words in refused.get_json()["detail"]
    stranger = make_device(None)
    hidden = client.post("/api/v1/activation-codes/assign", headers=h, json={"code": world.code, "device_ids": [stranger.id]})
    assert hidden.status_code == 404
    db.session.expire_all()
    assert client.post("/api/v1/activation-codes/verify", headers=h, json={"code": world.code}).get_json()["remaining"] == 48


def test_a_deeply_nested_body_is_refused_plainly(app, client):
    """Found by hand: 100,000 nested brackets made Python's JSON parser raise RecursionError (a 500)."""
    world = build(app)
    headers = {**bearer(world.secrets["all"]), "Content-Type": "application/json"}
    for body in ("[" * 100_000 + "]" * 100_000, '{"type": "test.battery.start", "args": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        response = client.post(f"/api/v1/devices/{world.device.id}/commands", headers=headers, data=body)
        assert response.status_code == 400 and response.mimetype == PROBLEM
