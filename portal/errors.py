"""Error pages: a clear message for the user, never a stack trace."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from portal.api.problems import is_api_request, problem, problem_for_status
from portal.extensions import db


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_oversized_body() -> None:
        # Every route, by the declared length, before any view or form reads a byte of the body.
        limit = request.max_content_length
        if limit is not None and request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_template(
            "error.html", title="Form expired", message="The form expired or came from another site. Reload the page and try again."
        ), 400

    @app.errorhandler(429)
    def too_many(error):
        if is_api_request():
            return problem("rate-limited", f"Too many calls ({error.description}). Wait a minute and try again.")
        return render_template(
            "error.html", title="Too many attempts", message="Too many attempts in a short time. Wait a minute and try again."
        ), 429

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        if is_api_request():
            return problem_for_status(413, too_large_message())
        return render_template("error.html", title="Too large", message=too_large_message()), 413

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_api_request():
            response = problem_for_status(error.code or 500, error.description)
            if error.code == 405 and error.valid_methods:
                response.headers["Allow"] = ", ".join(error.valid_methods)
            return response
        return render_template("error.html", title=error.name, message=error.description), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        if is_api_request():
            return problem("internal-error", "The error was logged. Nothing was changed; try again.")
        return render_template(
            "error.html", title="Something went wrong", message="The error was logged. Nothing was changed; try again."
        ), 500


def _size(n: int) -> str:
    return f"{n / 1_048_576:g} MB" if n >= 1_048_576 else f"{n / 1024:g} KB"


def too_large_message() -> str:
    """Which of Werkzeug's request limits was passed, named with its size."""
    body_limit = request.max_content_length
    length = request.content_length
    if body_limit is not None and (length is None or length > body_limit):
        return (
            f"The request is larger than {_size(body_limit)}, the most this portal accepts. Nothing was saved: "
            "go back and send a smaller file."
        )
    if request.max_form_memory_size is not None:
        return (
            f"A form field is longer than {_size(request.max_form_memory_size)} or the form has more than "
            f"{request.max_form_parts:,} fields, the most this portal accepts. Nothing was saved: go back and shorten it."
        )
    return "The request is larger than this portal accepts. Nothing was saved: go back and send less."
