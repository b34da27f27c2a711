"""Operations declared once in code: `operation()` routes a view and records it; the OpenAPI 3.1 document is built from the records.

apispec (with its marshmallow plugin) turns the schemas into JSON Schema; nothing is written by hand beside
the code, so the document cannot drift from what the routes do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from portal.api import schemas
from portal.api.problems import MEDIA_TYPE, PROBLEMS
from portal.services.accounts.access import MAX_ID

TITLE = "upsconnect API"
VERSION = "1.0.0"

@dataclass(frozen=True)
class Operation:
    endpoint: str
    rule: str  # the Flask rule under the blueprint, e.g. /devices/<id:device_id>
    method: str
    summary: str
    description: str
    scope: str
    response: type[Schema] | None
    status: int
    query: type[Schema] | None
    body: type[Schema] | None
    problems: tuple[str, ...]
    csv: bool = False  # also answers text/csv

    @property
    def path(self) -> str:
        """The OpenAPI path: /api/v1/devices/{device_id}."""
        return "/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)

    @property
    def path_parameters(self) -> list[tuple[str, str]]:
        """(name, converter) of each URL argument."""
        return [(m.group(2), m.group(1) or "string") for m in re.finditer(r"<(?:(\w+):)?(\w+)>", self.rule)]

OPERATIONS: list[Operation] = []
# Problems every authenticated operation can answer.
COMMON_PROBLEMS = ("invalid-request", "unauthorized", "insufficient-scope", "rate-limited")

def declare(op: Operation) -> None:
    if any(o.endpoint == op.endpoint for o in OPERATIONS):
        return  # the module is imported once per app; the record is the same
    OPERATIONS.append(op)

def _parameter(name: str, converter: str) -> dict:
    if converter == "id":
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    elif name == "command_id":
        schema = {"type": "string", "format": "uuid", "maxLength": 36}
    else:
        schema = {"type": "string"}
    return {"in": "path", "name": name, "required": True, "schema": schema}

def _problem_response(slugs: tuple[str, ...]) -> dict:
    kinds = [PROBLEMS[s] for s in slugs]
    return {
        "description": "; ".join(f"{k.title} ({k.uri})" for k in kinds),
        "content": {MEDIA_TYPE: {"schema": "Problem"}},
    }

def _operation_object(op: Operation) -> dict:
    responses: dict[str, dict] = {}
    if op.response is not None:
        content = {"application/json": {"schema": op.response.__name__}}
        if op.csv:
            content["text/csv"] = {"schema": {"type": "string"}}
        responses[str(op.status)] = {"description": op.summary, "content": content}
    else:
        responses[str(op.status)] = {"description": op.summary}
    by_status: dict[int, list[str]] = {}
    with_body = ("unsupported-media-type", "request-too-large") if op.body is not None else ()
    for slug in (*COMMON_PROBLEMS, *op.problems, *with_body):
        if slug not in by_status.get(PROBLEMS[slug].status, []):
            by_status.setdefault(PROBLEMS[slug].status, []).append(slug)
    for status, slugs in sorted(by_status.items()):
        responses[str(status)] = _problem_response(tuple(slugs))
    parameters: list[dict] = [_parameter(name, conv) for name, conv in op.path_parameters]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    body: dict = {
        "operationId": op.endpoint.split(".", 1)[1],
        "summary": op.summary,
        "description": f"{op.description}\n\nScope: `{op.scope}`.".strip(),
        "tags": [op.scope],
        "security": [{"bearerToken": [op.scope]}],
        "parameters": parameters,
        "responses": responses,
        "x-scope": op.scope,
    }
    if op.body is not None:
        body["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body.__name__}}}
    return body

@cache
def document() -> dict:
    """The OpenAPI 3.1 document of every declared operation (built once per process: the code does not change)."""
    spec = APISpec(
        title=TITLE, version=VERSION, openapi_version="3.1.0", plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "The upsconnect portal's JSON API. Authenticate with a personal access token "
                "(`Authorization: Bearer upc_...`, made on /account/tokens/). A token acts only as its user and "
                "sees only what that user may see. Errors are application/problem+json."
            ),
        },
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme(
        "bearerToken", {"type": "http", "scheme": "bearer", "description": "A personal access token (upc_...)."}
    )
    for name in ("Problem", "Readings", "Term"):
        spec.components.schema(name, schema=getattr(schemas, name))
    for op in OPERATIONS:
        for schema in (op.response, op.body):
            if schema is not None and schema.__name__ not in spec.components.schemas:
                spec.components.schema(schema.__name__, schema=schema)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_object(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()

ViewFunction = Callable[..., object]
