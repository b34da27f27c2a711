"""Error pages: a clear message for the user, never a stack trace."""

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.extensions import db


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_template(
            "error.html", title="Form expired", message="The form expired or came from another site. Reload the page and try again."
        ), 400

    @app.errorhandler(429)
    def too_many(error):
        return render_template(
            "error.html", title="Too many attempts", message="Too many attempts in a short time. Wait a minute and try again."
        ), 429

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("error.html", title=error.name, message=error.description), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        return render_template(
            "error.html", title="Something went wrong", message="The error was logged. Nothing was changed; try again."
        ), 500
