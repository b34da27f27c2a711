"""Errors as application/problem+json (RFC 9457), each kind with a stable type URI."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, json, request

API_PREFIX = "/api/v1"
MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    status: int
    explains: str  # for the browsable API page

    @property
    def uri(self) -> str:
        # A reference into the API page, the same on every deployment: clients compare it as a string.
        return f"{API_PREFIX}/docs#problem-{self.slug}"


PROBLEMS = {
    p.slug: p
    for p in (
        ProblemType("invalid-request", "Invalid request", 400,
                    "A query parameter, path value or JSON body is missing or not valid; `errors` names each field."),
        ProblemType("unauthorized", "Unauthorized", 401,
                    "No bearer token, or the token is unknown or revoked. Cookies are never accepted here."),
        ProblemType("insufficient-scope", "Insufficient scope", 403,
                    "The token is valid but lacks the scope this operation needs (read, commands or licensing)."),
        ProblemType("not-in-plan", "Not in the device's plan", 403,
                    "The device's plan does not include this (for example telemetry history on Basic)."),
        ProblemType("not-found", "Not found", 404,
                    "No such object for this token's user: it does not exist, or the user may not see it."),
        ProblemType("method-not-allowed", "Method not allowed", 405, "This path does not answer that HTTP method."),
        ProblemType("request-too-large", "Request too large", 413, "The body is larger than the portal accepts."),
        ProblemType("unsupported-media-type", "Unsupported media type", 415, "Send the body as application/json."),
        ProblemType("command-refused", "Command refused", 422,
                    "The same rule the device page uses refused the command: plan, settings, or the device is offline."),
        ProblemType("licensing-refused", "Licensing refused", 422,
                    "The licensing rule the pages use refused: unknown or mistyped code, not enough licenses left."),
        ProblemType("rate-limited", "Too many requests", 429,
                    "The token (or address) made too many calls in a short time; wait and retry."),
        ProblemType("internal-error", "Internal error", 500, "Something failed on the portal; it was logged and nothing changed."),
    )
}
BY_STATUS = {p.status: p for p in reversed(PROBLEMS.values())}  # the first of each status is its default


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def problem(slug: str, detail: str, *, errors: dict | None = None, headers: dict | None = None) -> Response:
    """A problem+json response of this kind."""
    kind = PROBLEMS[slug]
    body = {"type": kind.uri, "title": kind.title, "status": kind.status, "detail": detail, "instance": request.path}
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=kind.status, mimetype=MEDIA_TYPE, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def problem_for_status(status: int, detail: str | None) -> Response:
    """A problem for an HTTP error raised outside an operation (unknown path, limiter, body size)."""
    kind = BY_STATUS.get(status) or (PROBLEMS["internal-error"] if status >= 500 else PROBLEMS["invalid-request"])
    response = problem(kind.slug, detail or kind.explains)
    response.status_code = status
    return response
