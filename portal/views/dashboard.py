"""The signed-in home page."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from portal.services import devices
from portal.services.clock import clock

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def home():
    return redirect(url_for("dashboard.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/dashboard")
@login_required
def index():
    today = clock().today()
    rows = devices.visible_device_rows(current_user, today=today)
    return render_template("dashboard/index.html", rows=rows, today=today)
