"""Who is signed in: Flask-Login wiring, and the answer for a visitor whose session ran out."""

from flask import Flask, redirect, request, url_for
from flask_login import current_user

from portal.extensions import db, htmx, login_manager
from portal.models import User


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None

    @login_manager.unauthorized_handler
    def unauthorized():
        target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
        if htmx:
            # A partial request cannot show a sign-in page inside a table cell: send the browser there.
            response = app.response_class(status=401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)

    @app.context_processor
    def inject_user():
        return {"current_user": current_user}
