"""Thin blueprints: parse the request, call a service, render the page or its partial.

Every module here that defines a blueprint `bp` is registered; a module that sets `LAB_ONLY = True`
is registered only in lab mode, so its pages do not exist at all in production.
"""

import importlib
import pkgutil

from flask import Flask, request
from flask_login import current_user

# The main navigation: (endpoint, label, who sees it). Entries whose view is not registered are left out.
NAVIGATION = (
    ("dashboard.index", "Dashboard", "all"),
    ("subscriptions.overview", "Subscriptions", "all"),
    ("partner.shared_with_me", "Shared With Me", "partner"),
    ("partner.orders", "Order licenses", "partner"),
    ("licenses.verify", "Activation codes", "all"),
    ("reports.index", "Reports", "all"),
    ("battery.fleet", "Battery health", "all"),
    ("bridges.index", "Bridges", "customer"),
    ("quotes.index", "Quotes", "partner"),
    ("notifications.index", "Notifications", "all"),
    ("renewal_support.index", "Renewal Support", "all"),
    ("transfers.index", "Transfers", "all"),
    ("team.index", "Team", "all"),
    ("lab.clock_page", "Lab", "lab"),
)


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint; lab pages only in lab mode."""
    from portal.api.problems import is_api_request, problem
    from portal.services.licensing.activation_codes import EXAMPLE_CODE, format_code

    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        blueprint = getattr(module, "bp", None)
        if blueprint is None or (getattr(module, "LAB_ONLY", False) and not app.config["LAB_MODE"]):
            continue
        app.register_blueprint(blueprint)
    app.add_template_filter(format_code, "format_code")
    app.jinja_env.globals["example_activation_code"] = EXAMPLE_CODE
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    # Templates ask the plan table, never hard-code which plan shows what.
    from portal.services.licensing.plans import Feature, Plan, plan_allows

    app.jinja_env.globals["shows_health_values"] = lambda plan: plan_allows(
        plan if isinstance(plan, Plan) else Plan.from_key(plan), Feature.HEALTH_VALUES
    )

    @app.context_processor
    def navigation():
        if not current_user.is_authenticated:
            return {"nav_items": []}
        audience = {"all", "partner" if current_user.company.is_partner else "customer"}
        if app.config["LAB_MODE"]:
            audience.add("lab")
        items = [(endpoint, label) for endpoint, label, who in NAVIGATION if who in audience and endpoint in app.view_functions]
        return {"nav_items": items}

    @app.context_processor
    def lab_context():
        if not app.config["LAB_MODE"]:
            return {}
        from portal.services.clock import clock

        return {"lab_today": clock().today()}

    @app.before_request
    def refuse_nul_characters():
        # No text a person types holds NUL, and PostgreSQL cannot store or compare it: refuse it plainly.
        values = [*request.args.values(), *(request.form.values() if request.mimetype != "multipart/form-data" else ())]
        if any("\x00" in value for value in values):
            if is_api_request():
                return problem("invalid-request", "Text may not contain NUL characters.")
            return "Text may not contain NUL characters.", 400
        return None

    @app.after_request
    def vary_on_htmx(response):
        # A page and its partial share a URL: caches must keep them apart.
        response.vary.add("HX-Request")
        return response

    @app.after_request
    def no_store_when_signed_in(response):
        # A signed-in page holds account data: no shared or back-button cache keeps it. Static files keep theirs.
        if request.endpoint != "static" and current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response
