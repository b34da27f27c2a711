"""What assigning one license from a code to each chosen device would do, computed without writing.

The preview rebuilds each device's timeline from its stored entitlements plus the new one, in the
order entitlements.assign_from_code would store them, with the promotion bonus of today, so the dates
shown before confirming are the dates the device gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from portal.models import Device, Entitlement, User
from portal.services.accounts import access
from portal.services.errors import NotFound
from portal.services.licensing import entitlements
from portal.services.licensing.entitlements import CodeSummary
from portal.services.licensing.plans import Plan
from portal.services.licensing.subscription_timeline import Entitlement as TimelineEntry
from portal.services.licensing.subscription_timeline import (
    Segment,
    build_timeline,
    current_segment,
    paid_through,
    segments_of,
)

NEW_ENTITLEMENT_ID = -1  # stands for the license not assigned yet; stored ids are positive


@dataclass(frozen=True)
class DevicePreview:
    device: Device
    plan_today: Plan
    current_end: date | None  # last day of cover before the license (exclusive end), None when on Basic
    new_terms: tuple[Segment, ...]  # where the new license runs (more than one when an upgrade pauses it)
    paid_through_after: date | None

    @property
    def new_start(self) -> date:
        return self.new_terms[0].start


def preview_device(device: Device, summary: CodeSummary, *, today: date) -> DevicePreview:
    entries = entitlements.timeline_entries(device)
    before = build_timeline(entries)
    new = TimelineEntry(
        id=NEW_ENTITLEMENT_ID,
        plan=summary.product.plan,
        months=summary.product.months + summary.bonus_months_today,
        assigned_on=today,
    )
    after = build_timeline([*entries, new])
    segment = current_segment(before, today)
    return DevicePreview(
        device=device,
        plan_today=segment.plan if segment else Plan.BASIC,
        current_end=paid_through(before) if segment else None,
        new_terms=segments_of(after, NEW_ENTITLEMENT_ID),
        paid_through_after=paid_through(after),
    )


def preview(actor: User, summary: CodeSummary, devices: list[Device], *, today: date) -> list[DevicePreview]:
    """The dry run of assign_from_code: the very same checks, no writes."""
    entitlements.check_assignment(actor, summary, devices)
    return [preview_device(device, summary, today=today) for device in devices]


ASSIGNMENT_NOT_FOUND = "No such license assignment in your account."


def holds_code(user: User, entitlement: Entitlement) -> bool:
    """The company that holds the code behind an assignment: the one that ordered the code, or whose user typed it.

    Only that company may read the code and what is left on it; the device's owner and other partners it is
    shared with see the device's new term on its own page instead.
    """
    code = entitlement.activation_code
    if code is None or not access.may_act_on(user, entitlement.device):
        return False
    typed_by_us = entitlement.assigned_by is not None and entitlement.assigned_by.company_id == user.company_id
    return typed_by_us or code.order.ordered_by_company_id == user.company_id


def assignments_for(user: User, entitlement_ids: list[int]) -> list[Entitlement]:
    """The assignments just made, all from one code the user's company holds; NotFound otherwise."""
    if not entitlement_ids:
        raise NotFound(ASSIGNMENT_NOT_FOUND)
    assigned = [
        access.row_for(Entitlement, i, allowed=lambda e: holds_code(user, e), message=ASSIGNMENT_NOT_FOUND)
        for i in entitlement_ids
    ]
    if len({e.activation_code_id for e in assigned}) != 1:
        raise NotFound(ASSIGNMENT_NOT_FOUND)
    return assigned


def assigned_terms(
    assigned: list[Entitlement],
) -> list[tuple[Entitlement, tuple[Segment, ...], date | None]]:
    """After confirming: each entitlement with where it runs on its device's timeline and the new paid-through day."""
    result = []
    for entitlement in assigned:
        timeline = entitlements.device_timeline(entitlement.device)
        result.append((entitlement, segments_of(timeline, entitlement.id), paid_through(timeline)))
    return result
