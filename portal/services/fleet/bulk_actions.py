"""Bulk actions: one command for many devices, each still gated by its own plan and state.

The preview and the run both ask `commands.refusal` (the very check a single command runs), so what the
preview promises is what the batch does; a device that changed in between is refused with the reason then.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from devicelink.contract import SENSITIVITIES, CommandType
from portal.extensions import db
from portal.models import CommandBatch, CommandBatchItem, Device, User
from portal.services.accounts import access
from portal.services.errors import DomainError
from portal.services.fleet import commands
from portal.services.fleet.firmware import update_available

# One batch at most this many devices: the preview lists every one, and the broker takes them in one burst.
MAX_DEVICES = 500
BATCH_NOT_FOUND = "No such batch in your account."


class BulkError(DomainError):
    """A bulk action was refused as a whole (unknown action, bad setting, too many devices, none selected)."""


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    command: CommandType


ACTIONS = {
    action.key: action
    for action in (
        Action("self_test", "Start a self-test", CommandType.TEST_BATTERY_START),
        Action("firmware", "Upgrade firmware to the latest release", CommandType.FIRMWARE_UPGRADE),
        Action("sensitivity", "Set input sensitivity", CommandType.INPUT_SENSITIVITY),
        Action("outlet_reboot", "Reboot an outlet group", CommandType.OUTLET_GROUP_CYCLE),
    )
}


@dataclass(frozen=True)
class Choice:
    """The action and its one setting (the sensitivity, or the outlet group's name)."""

    action: Action
    sensitivity: str = ""
    group: str = ""

    @property
    def settings(self) -> dict[str, str]:
        return {key: value for key, value in (("sensitivity", self.sensitivity), ("group", self.group)) if value}

    def describe(self) -> str:
        extra = f": {self.sensitivity}" if self.sensitivity else f": {self.group}" if self.group else ""
        return self.action.label + extra


def parse_choice(action: str, *, sensitivity: str = "", group: str = "") -> Choice:
    """The chosen action and setting, or BulkError saying what is missing."""
    chosen = ACTIONS.get(action or "")
    if chosen is None:
        raise BulkError("Choose an action: self-test, firmware upgrade, input sensitivity or outlet-group reboot.", "action")
    if chosen.key == "sensitivity":
        if sensitivity not in SENSITIVITIES:
            raise BulkError(f"Choose an input sensitivity: {', '.join(sorted(SENSITIVITIES))}.", "sensitivity")
        return Choice(chosen, sensitivity=sensitivity)
    if chosen.key == "outlet_reboot":
        group = (group or "").strip()
        if not group or len(group) > 40:
            raise BulkError("Name the outlet group to reboot (for example Outlet Group 1).", "group")
        return Choice(chosen, group=group)
    return Choice(chosen)


def check_size(device_ids: list[int]) -> list[int]:
    """The selection without repeats, or BulkError when it is empty or larger than a batch may be."""
    unique = list(dict.fromkeys(device_ids))
    if not unique:
        raise BulkError("Select at least one device (tick it in the table, or choose all that match the filters).")
    if len(unique) > MAX_DEVICES:
        raise BulkError(
            f"A bulk action runs on at most {MAX_DEVICES} devices at once; {len(unique)} are selected. "
            "Narrow the filters (a site or a model, say) and run it in parts."
        )
    return unique


def _args_or_reason(choice: Choice, device: Device) -> tuple[dict, str | None]:
    """The command's settings for this device, or why it has none (no newer firmware, no such outlet group)."""
    if choice.action.key == "firmware":
        version = update_available(device.model, device.firmware)
        if version is None:
            return {}, "Already on the latest firmware."
        return {"version": version}, None
    if choice.action.key == "sensitivity":
        return {"sensitivity": choice.sensitivity}, None
    if choice.action.key == "outlet_reboot":
        if choice.group not in (device.outlet_groups or [])[1:]:  # the first group is the unswitched main outlets
            return {}, f"Has no switched outlet group named {choice.group}."
        return {"group": choice.group}, None
    return {}, None


@dataclass(frozen=True)
class PreviewLine:
    device: Device
    shared: bool
    reason: str | None  # None: it will run

    @property
    def runs(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Preview:
    choice: Choice
    lines: tuple[PreviewLine, ...]

    @property
    def will_run(self) -> list[PreviewLine]:
        return [line for line in self.lines if line.runs]

    @property
    def will_not_run(self) -> list[PreviewLine]:
        return [line for line in self.lines if not line.runs]


def _reason(choice: Choice, device: Device, today: date) -> tuple[dict, str | None]:
    args, reason = _args_or_reason(choice, device)
    return args, reason or commands.refusal(device, choice.action.command, args, today)


def preview(user: User, devices: list[Device], choice: Choice, *, today: date) -> Preview:
    """Which of these devices (each one the user may act on) would run the action now, and why not the others."""
    lines = tuple(
        PreviewLine(device, not access.is_owner(user, device), _reason(choice, device, today)[1]) for device in devices
    )
    return Preview(choice, lines)


def run(
    user: User, devices: list[Device], choice: Choice, *, publish: commands.Publish, today: date, now: datetime
) -> CommandBatch:
    """Send the action to every device that may run it now, through the single-command path; record the rest."""
    batch = CommandBatch(
        company_id=user.company_id, created_by_user_id=user.id, action=choice.action.key, settings=choice.settings,
        created_at=now,
    )
    db.session.add(batch)
    db.session.flush()
    for device in devices:
        args, reason = _args_or_reason(choice, device)
        item = CommandBatchItem(batch_id=batch.id, device_id=device.id, refusal="")
        if reason:
            item.refusal = reason
        else:
            try:
                command = commands.issue_command(
                    user, device, choice.action.command.value, args, publish=publish, today=today, now=now
                )
            except DomainError as error:
                item.refusal = error.message
            else:
                item.command_id = command.id
        db.session.add(item)
    db.session.flush()
    return batch


def batch_for(user: User, batch_id: int) -> CommandBatch:
    """A batch of the user's company; NotFound otherwise."""
    return access.company_row(user, CommandBatch, batch_id, message=BATCH_NOT_FOUND)


# What the batch view says for each device command status.
PROGRESS_STATE = {
    "queued": "pending", "sent": "sent", "accepted": "sent", "progress": "sent",
    "done": "succeeded", "failed": "failed", "timed_out": "failed",
}
STATES = ("pending", "sent", "succeeded", "failed", "not run")


@dataclass(frozen=True)
class ProgressLine:
    device: Device
    state: str
    percent: int
    message: str


@dataclass(frozen=True)
class Progress:
    batch: CommandBatch
    label: str
    lines: tuple[ProgressLine, ...]
    counts: dict[str, int]

    @property
    def finished(self) -> bool:
        return not (self.counts.get("pending") or self.counts.get("sent"))


def progress(batch: CommandBatch) -> Progress:
    """Where each device of the batch stands: pending, sent, succeeded, failed, or not run (and why). Reads only."""
    lines = []
    for item in batch.items:
        if item.command is None:
            lines.append(ProgressLine(item.device, "not run", 0, item.refusal))
        else:
            state = PROGRESS_STATE.get(item.command.status, "pending")
            lines.append(ProgressLine(item.device, state, item.command.progress_percent or 0, item.command.message))
    counts = Counter(line.state for line in lines)
    choice = Choice(ACTIONS[batch.action], **(batch.settings or {})) if batch.action in ACTIONS else None
    return Progress(batch, choice.describe() if choice else batch.action, tuple(lines), {state: counts.get(state, 0) for state in STATES})
