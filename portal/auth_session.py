"""Who is signed in: Flask-Login wiring over server-side sign-in sessions, and the answer for a visitor
whose session ran out."""

from flask import Flask, current_app, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal.extensions import htmx, login_manager
from portal.models import User
from portal.services.accounts import sign_in_sessions
from portal.services.clock import utcnow

SESSION_TOKEN_KEY = "sign_in"


def sign_in(user: User) -> None:
    """Start a server-side session for this browser and sign the user in (the caller commits)."""
    session.clear()  # nothing from before sign-in (a pending two-factor step, an old token) carries over
    session[SESSION_TOKEN_KEY] = sign_in_sessions.start(
        user, now=utcnow(), lifetime=current_app.permanent_session_lifetime
    )
    login_user(user)


def sign_out() -> None:
    """End this browser's session in the database, so a copy of its cookie is worthless (the caller commits)."""
    sign_in_sessions.end(session.get(SESSION_TOKEN_KEY, ""))
    logout_user()
    session.pop(SESSION_TOKEN_KEY, None)


def current_session_token() -> str | None:
    return session.get(SESSION_TOKEN_KEY)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # The signed cookie alone is not enough: its session must still exist in the database.
        if not user_id.isdigit():
            return None
        return sign_in_sessions.user_for(
            int(user_id),
            session.get(SESSION_TOKEN_KEY, ""),
            started_after=utcnow() - app.permanent_session_lifetime,
        )

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

