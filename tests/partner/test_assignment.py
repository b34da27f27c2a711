"""Verify a code, choose shared devices, review the dry-run dates, confirm; part now, the rest later."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ActivationCode, Entitlement, OrderChannel, SubscriptionSegment
from portal.services.calendar_dates import add_months
from portal.services.clock import clock
from portal.services.licensing import entitlements
from portal.services.licensing.activation_codes import format_code
from portal.services.partners import assignment_preview
from tests.partner.conftest import client_for, today, with_trial
from tests.portal.factories import make_device, share


def _code(user, quantity=3, sku="SCSTD1Y") -> ActivationCode:
    code = entitlements.place_order(
        ordered_by=user,
        channel=OrderChannel.PARTNER,
        sku=sku,
        quantity=quantity,
        installer_email=user.email,
        po_number="PO-1",
        today=today(),
        now=clock().now(),
    )
    db.session.commit()
    return code


def _licenses() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Entitlement).where(Entitlement.source == "license")
    )


def _text(response) -> str:
    """The page without tags, as a reader sees it."""
    return re.sub(r"<[^>]+>", "", response.get_data(as_text=True))


def _remaining(code) -> int:
    db.session.expire(code)
    return code.remaining


def test_verify_leads_to_the_device_choice_with_the_code_filled_in(app, cast):
    code = _code(cast.partner)
    partner = client_for(app, cast.partner)
    page = partner.post("/licenses/verify", data={"code": code.code}).get_data(as_text=True)
    assert "Assign licenses to devices" in page and 'action="/partner/assign"' in page
    page = partner.post("/partner/assign", data={"code": format_code(code.code), "start": "1"}).get_data(
        as_text=True
    )
    assert f'value="{format_code(code.code)}"' in page and '<dd id="code-remaining">3</dd>' in page
    assert cast.device.serial in page and cast.other.serial not in page and cast.foreign.serial not in page


def test_shared_with_me_next_preselects_the_devices(app, cast):
    page = (
        client_for(app, cast.partner).get(f"/partner/assign?device={cast.device.id}").get_data(as_text=True)
    )
    assert re.search(
        rf'value="{cast.device.id}" id="device-{cast.device.id}" data-group="all"\s+checked', page
    )


def test_preview_shows_new_term_dates_without_writing_then_confirm_assigns_them(app, cast):
    code = _code(cast.partner)
    trial_end = add_months(today() - timedelta(days=30), 6)
    partner = client_for(app, cast.partner)
    response = partner.post("/partner/assign", data={"code": code.code, "device": [str(cast.device.id)]})
    page = _text(response)
    assert response.status_code == 200 and "Confirm and assign 1 license" in page
    expected = f"{trial_end:%d %b %Y} to {add_months(trial_end, 12):%d %b %Y}"
    assert expected in page  # appended after the trial: early renewal loses nothing
    assert _licenses() == 0 and _remaining(code) == 3  # a dry run

    response = partner.post(
        "/partner/assign/confirm", data={"code": code.code, "device": [str(cast.device.id)]}
    )
    assert response.status_code == 303 and "/partner/assign/done" in response.headers["Location"]
    done = _text(partner.get(response.headers["Location"]))
    assert expected in done and "2 licenses left" in done
    assert _remaining(code) == 2
    segments = db.session.scalars(
        select(SubscriptionSegment).where(SubscriptionSegment.device_id == cast.device.id)
    ).all()
    assert [(s.start, s.end) for s in segments][-1] == (trial_end, add_months(trial_end, 12))


def test_preview_matches_what_the_assignment_gives_for_an_upgrade(app, cast):
    code = _code(cast.partner, sku="SCADV1Y")
    summary = entitlements.verify_code(code.code, today=today())
    [before] = assignment_preview.preview(cast.partner, summary, [cast.device], today=today())
    assert before.new_start == today()  # an upgrade starts at once
    [entitlement] = entitlements.assign_from_code(
        cast.partner, code.code, [cast.device], today=today(), now=clock().now()
    )
    db.session.commit()
    [(_, segments, _through)] = assignment_preview.assigned_terms([entitlement])
    assert segments == tuple(s.__class__(s.plan, s.start, s.end, entitlement.id) for s in before.new_terms)


def test_part_of_a_code_now_and_the_rest_later(app, cast):
    second = with_trial(make_device(cast.owner))
    third = with_trial(make_device(cast.owner))
    share(second, cast.partner)
    share(third, cast.partner)
    code = _code(cast.partner)
    partner = client_for(app, cast.partner)
    assert (
        partner.post(
            "/partner/assign/confirm", data={"code": code.code, "device": [str(cast.device.id)]}
        ).status_code
        == 303
    )
    assert _remaining(code) == 2
    clock().advance(timedelta(days=20))  # later
    db.session.commit()
    response = partner.post(
        "/partner/assign/confirm", data={"code": code.code, "device": [str(second.id), str(third.id)]}
    )
    assert response.status_code == 303 and _remaining(code) == 0
    later = db.session.scalars(
        select(Entitlement).where(Entitlement.device_id == second.id, Entitlement.source == "license")
    ).one()
    assert later.assigned_on == today()  # each term counted from its own assignment day
    response = partner.post("/partner/assign", data={"code": code.code, "device": [str(cast.device.id)]})
    assert response.status_code == 422 and "already been assigned" in response.get_data(as_text=True)


def test_more_devices_than_licenses_left_is_refused_whole_with_422(app, cast):
    second = with_trial(make_device(cast.owner))
    share(second, cast.partner)
    code = _code(cast.partner, quantity=1)
    partner = client_for(app, cast.partner)
    data = {"code": code.code, "device": [str(cast.device.id), str(second.id)]}
    for url in ("/partner/assign", "/partner/assign/confirm"):
        response = partner.post(url, data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "1 license left; select at most 1 device" in page
        assert f'value="{code.code}"' in page  # what was typed stays
        assert re.search(rf'value="{second.id}" id="device-{second.id}" data-group="all"\s+checked', page)
    assert _licenses() == 0 and _remaining(code) == 1


def test_code_and_selection_errors(app, cast):
    code = _code(cast.partner)
    partner = client_for(app, cast.partner)
    response = partner.post("/partner/assign", data={"code": code.code})
    assert response.status_code == 422 and "Select at least one device" in response.get_data(as_text=True)
    response = partner.post("/partner/assign", data={"code": "", "device": [str(cast.device.id)]})
    assert response.status_code == 422
    mistyped = code.code[:-1] + ("2" if code.code[-1] != "2" else "3")
    response = partner.post(
        "/partner/assign/confirm", data={"code": mistyped, "device": [str(cast.device.id)]}
    )
    assert response.status_code == 422 and _licenses() == 0


def test_devices_not_shared_are_404_all_or_nothing(app, cast):
    code = _code(cast.stranger)
    stranger = client_for(app, cast.stranger)
    partner = client_for(app, cast.partner)
    for client in (stranger, partner):
        for device in (cast.other, cast.foreign):
            assert client.get(f"/partner/assign?device={device.id}").status_code == 404
            assert (
                client.post(
                    "/partner/assign", data={"code": code.code, "device": [str(device.id)]}
                ).status_code
                == 404
            )
            data = {"code": code.code, "device": [str(cast.device.id), str(device.id)]}
            assert client.post("/partner/assign/confirm", data=data).status_code == 404
    assert client.get("/partner/assign?device=abc").status_code == 404
    assert _licenses() == 0 and _remaining(code) == 3


def test_the_result_page_is_only_for_the_company_that_holds_the_code(app, cast):
    code = _code(cast.partner)
    [entitlement] = entitlements.assign_from_code(
        cast.partner, code.code, [cast.device], today=today(), now=clock().now()
    )
    db.session.commit()
    url = f"/partner/assign/done?entitlement={entitlement.id}"
    assert client_for(app, cast.partner).get(url).status_code == 200
    # The owner sees the new term on the device page; the partner's code and what is left stay the partner's.
    assert client_for(app, cast.owner).get(url).status_code == 404
    assert client_for(app, cast.stranger).get(url).status_code == 404
    assert client_for(app, cast.stranger).get("/partner/assign/done?entitlement=99999").status_code == 404
    assert client_for(app, cast.stranger).get("/partner/assign/done").status_code == 404
    visitor = client_for(app, None)
    for page in ("/partner/assign", url):
        assert visitor.get(page).status_code == 302
    assert (
        visitor.post(
            "/partner/assign/confirm", data={"code": code.code, "device": [str(cast.device.id)]}
        ).status_code
        == 302
    )


def test_a_customer_assigns_an_online_code_to_its_own_devices(app, cast):
    code = _code(cast.partner)
    owner = client_for(app, cast.owner)
    response = owner.post("/partner/assign/confirm", data={"code": code.code, "device": [str(cast.other.id)]})
    assert response.status_code == 303 and _remaining(code) == 2


def test_code_entry_on_assignment_is_rate_limited(app, cast):
    partner = client_for(app, cast.partner)
    statuses = [
        partner.post("/partner/assign", data={"code": "X", "device": [str(cast.device.id)]}).status_code
        for _ in range(21)
    ]
    assert statuses[:20] == [422] * 20 and statuses[20] == 429
