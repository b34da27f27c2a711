"""Bulk actions: preview one command for a selection of devices, confirm it, follow the batch."""

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.device_link import publish_command
from portal.extensions import db, htmx
from portal.services.accounts import access
from portal.services.clock import clock, utcnow
from portal.services.errors import NotFound
from portal.services.fleet import bulk_actions, overview
from portal.views.helpers import ids_or_404

bp = Blueprint("bulk", __name__)


def _selected_ids(source) -> list[int]:
    """The ticked devices, or every device the dashboard's filters match when "all" was chosen."""
    if source.get("all") == "1":
        return overview.matching_ids(
            current_user, overview.Filters.parse(source), today=clock().today(), now=utcnow(),
            stale_after_s=current_app.config["STALE_AFTER_S"], limit=bulk_actions.MAX_DEVICES + 1,
        )
    return ids_or_404(source.getlist("device"), access.NOT_FOUND)


def _devices_or_404(ids: list[int]):
    """The devices in the order given; one the user may not act on is a 404, as by URL, and nothing runs."""
    try:
        return [access.device_for(current_user, device_id) for device_id in ids]
    except NotFound:
        abort(404, access.NOT_FOUND)


def _choice(source):
    return bulk_actions.parse_choice(
        source.get("action", ""), sensitivity=source.get("sensitivity", ""), group=source.get("group", "")
    )


def _page(status: int, **context):
    context.setdefault("preview", None)
    context.setdefault("error", None)
    return render_template(
        "bulk/preview.html", actions=bulk_actions.ACTIONS, sensitivities=sorted(bulk_actions.SENSITIVITIES),
        max_devices=bulk_actions.MAX_DEVICES, args=request.values, **context,
    ), status


@bp.get("/bulk/preview")
@login_required
def preview():
    """Which selected devices would run the action now and which would not, and why; nothing is sent."""
    try:
        ids = bulk_actions.check_size(_selected_ids(request.args))
    except bulk_actions.BulkError as error:
        return _page(422, error=error, ids=[])
    devices = _devices_or_404(ids)
    try:
        choice = _choice(request.args)
    except bulk_actions.BulkError as error:
        return _page(422, error=error, ids=ids)
    return _page(200, ids=ids, preview=bulk_actions.preview(current_user, devices, choice, today=clock().today()))


@bp.post("/bulk/batches")
@login_required
def run():
    """Send the confirmed action to every selected device that may run it; the rest are recorded with why."""
    try:
        ids = bulk_actions.check_size(ids_or_404(request.form.getlist("device"), access.NOT_FOUND))
    except bulk_actions.BulkError as error:
        return _page(422, error=error, ids=[])
    devices = _devices_or_404(ids)
    try:
        choice = _choice(request.form)
    except bulk_actions.BulkError as error:
        return _page(422, error=error, ids=ids)
    lab_clock = clock()
    batch = bulk_actions.run(
        current_user, devices, choice, publish=publish_command, today=lab_clock.today(), now=lab_clock.now()
    )
    db.session.commit()
    return redirect(url_for("bulk.batch", batch_id=batch.id)), 303


def _batch_or_404(batch_id: int):
    try:
        return bulk_actions.batch_for(current_user, batch_id)
    except NotFound:
        abort(404, bulk_actions.BATCH_NOT_FOUND)


@bp.get("/bulk/batches/<id:batch_id>")
@login_required
def batch(batch_id: int):
    """The batch's progress: each device pending, sent, succeeded, failed or not run."""
    return render_template("bulk/batch.html", progress=bulk_actions.progress(_batch_or_404(batch_id)))


@bp.get("/bulk/batches/<id:batch_id>/progress")
@login_required
def batch_progress(batch_id: int):
    """The progress region, polled; answers 286 (htmx: stop polling) once every device has finished."""
    progress = bulk_actions.progress(_batch_or_404(batch_id))
    if htmx and not htmx.boosted:
        return render_block("bulk/batch.html", "progress", progress=progress), 200 if not progress.finished else 286
    return render_template("bulk/batch.html", progress=progress)
