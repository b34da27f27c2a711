"""Subscription Overview and buying licenses online."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.extensions import db, htmx
from portal.forms.subscriptions import CardForm
from portal.services.accounts.access import parse_id
from portal.services.clock import clock
from portal.services.errors import DomainError, NotFound
from portal.services.licensing import online_purchase, subscription_overview
from portal.services.licensing.payments import parse_card
from portal.services.licensing.products import SELLABLE_PRODUCTS
from portal.views.helpers import attach_error

bp = Blueprint("subscriptions", __name__, url_prefix="/subscriptions")
DEFAULT_SKU = "SCSTD1Y"


def _selected_ids(values: list[str]) -> list[int]:
    # An id no row can have is left out, like an unticked box; the cart then names what is missing.
    return sorted({number for value in values if (number := parse_id(value)) is not None})[:100]


@bp.get("")
@login_required
def overview():
    """Subscription Overview: every device's plan, term end and queued terms."""
    today = clock().today()
    rows = subscription_overview.overview(current_user, today=today)
    return render_template(
        "subscriptions/overview.html", rows=rows, today=today, banners=subscription_overview.banners(rows, today)
    )


def _choices(source) -> dict[int, str]:
    """{device id: SKU} from `sku-<id>` fields, defaulting each selected device to the 1-year Standard plan."""
    ids = _selected_ids(source.getlist("device"))
    return {device_id: source.get(f"sku-{device_id}", DEFAULT_SKU) for device_id in ids}


def _buy_page(form: CardForm, choices: dict[int, str], status: int = 200, cart_error: str | None = None):
    try:
        cart = online_purchase.build_cart(
            current_user, choices, price_list_path=current_app.config.get("PRICE_LIST_PATH"), today=clock().today()
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        cart, cart_error = None, error.message
        status = 422
    context = {"form": form, "cart": cart, "choices": choices, "products": SELLABLE_PRODUCTS, "cart_error": cart_error}
    if htmx and request.method == "GET" and request.args.get("partial") == "cart":
        return render_block("subscriptions/buy.html", "cart", partial=True, **context)
    return render_template("subscriptions/buy.html", **context), status


@bp.get("/buy")
@login_required
def buy():
    """Buy licenses online: choose plan and term per device."""
    return _buy_page(CardForm(formdata=None), _choices(request.args))


@bp.post("/buy")
@login_required
def pay():
    """Charge the card and assign the licenses bought."""
    form = CardForm()
    choices = _choices(request.form)
    if not form.validate_on_submit():
        return _buy_page(form, choices, 422)
    lab_clock = clock()
    try:
        cart = online_purchase.build_cart(
            current_user, choices, price_list_path=current_app.config.get("PRICE_LIST_PATH"), today=lab_clock.today()
        )
        card = parse_card(form.card_holder.data or "", form.card_number.data or "", form.card_expiry.data or "", form.card_cvc.data or "", today=lab_clock.today())
        purchase = online_purchase.buy(
            current_user, cart, card, current_app.extensions["upsconnect.payments"], today=lab_clock.today(), now=lab_clock.now()
        )
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return _buy_page(form, choices, 422)
    db.session.commit()
    devices = ", ".join(line.device.serial for line in purchase.cart.lines)
    flash(
        f"Payment {purchase.payment.reference} of {purchase.cart.currency} {purchase.cart.total} accepted "
        f"(card ending {purchase.payment.card_last4}). Licenses assigned to {devices}.",
        "success",
    )
    for line in purchase.cart.lines:
        if line.bonus:
            flash(
                f"{line.device.serial}: {line.product.display_name}: runs {line.months} months, "
                f"{line.product.months} bought and {line.bonus.months} free from the {line.bonus.promotion}.",
                "info",
            )
    for code in purchase.leftover_codes:
        flash(f"Your order earned free licenses: use activation code {code} for other devices.", "info")
    return redirect(url_for("subscriptions.overview")), 303
