"""Thin blueprints: parse the request, call a service, render the page or its partial."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint; lab pages only in lab mode."""
    from portal.services.activation_codes import format_code
    from portal.views import auth, dashboard, devices, licenses, team

    app.register_blueprint(auth.bp)
    app.register_blueprint(team.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(licenses.bp)
    app.register_blueprint(devices.bp)
    app.add_template_filter(format_code, "format_code")
    if app.config["LAB_MODE"]:
        # Outside lab mode these pages do not exist at all.
        from portal.views import lab

        app.register_blueprint(lab.bp)

    @app.context_processor
    def lab_context():
        if not app.config["LAB_MODE"]:
            return {}
        from portal.services.clock import clock

        return {"lab_today": clock().today()}

    @app.after_request
    def vary_on_htmx(response):
        # A page and its partial share a URL: caches must keep them apart.
        response.vary.add("HX-Request")
        return response
