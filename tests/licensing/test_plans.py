"""Plans and their features: Basic is a status view, Standard the full portal, Advanced adds reboot."""

from __future__ import annotations

import pytest

from portal.services.errors import LicensingError
from portal.services.licensing.plans import (
    PLAN_FEATURES,
    Feature,
    Plan,
    features_of,
    lowest_plan_allowing,
    plan_allows,
    why_not,
)


def test_plans_are_ordered_basic_standard_advanced() -> None:
    assert Plan.BASIC < Plan.STANDARD < Plan.ADVANCED
    assert [plan.display_name for plan in Plan] == ["Basic", "Standard", "Advanced"]


@pytest.mark.parametrize("plan", list(Plan))
def test_plan_key_round_trips(plan: Plan) -> None:
    assert Plan.from_key(plan.key) is plan
    assert Plan.from_key(f" {plan.key.upper()} ") is plan


def test_unknown_plan_key_is_refused_with_the_known_names() -> None:
    with pytest.raises(LicensingError, match="basic, standard, advanced"):
        Plan.from_key("premium")


# One row per rule of the seeds: (feature, Basic, Standard, Advanced).
FEATURE_TABLE = [
    (Feature.STATUS_VIEW, True, True, True),
    (Feature.REPORTS, True, True, True),
    (Feature.HEALTH_VALUES, False, True, True),
    (Feature.EVENT_LOG, False, True, True),
    (Feature.EMAIL_ALERTS, False, True, True),
    (Feature.CHAT_ROUTING, False, True, True),
    (Feature.REMOTE_FIRMWARE, False, True, True),
    (Feature.INPUT_SENSITIVITY, False, True, True),
    (Feature.SELF_TEST, False, True, True),
    (Feature.SHARING, False, True, True),
    (Feature.OUTLET_REBOOT, False, False, True),
]


@pytest.mark.parametrize(("feature", "basic", "standard", "advanced"), FEATURE_TABLE)
def test_plan_allows_exactly_the_seed_rules(
    feature: Feature, basic: bool, standard: bool, advanced: bool
) -> None:
    assert plan_allows(Plan.BASIC, feature) is basic
    assert plan_allows(Plan.STANDARD, feature) is standard
    assert plan_allows(Plan.ADVANCED, feature) is advanced


def test_the_table_covers_every_feature() -> None:
    assert {row[0] for row in FEATURE_TABLE} == set(Feature)


def test_each_plan_includes_everything_of_the_plans_below() -> None:
    assert features_of(Plan.BASIC) < features_of(Plan.STANDARD) < features_of(Plan.ADVANCED)
    assert features_of(Plan.ADVANCED) == frozenset(Feature)
    assert set(PLAN_FEATURES) == set(Plan)


@pytest.mark.parametrize(
    ("feature", "plan"),
    [
        (Feature.STATUS_VIEW, Plan.BASIC),
        (Feature.EMAIL_ALERTS, Plan.STANDARD),
        (Feature.OUTLET_REBOOT, Plan.ADVANCED),
    ],
)
def test_lowest_plan_allowing(feature: Feature, plan: Plan) -> None:
    assert lowest_plan_allowing(feature) is plan


def test_why_not_is_none_when_allowed() -> None:
    assert why_not(Plan.ADVANCED, Feature.OUTLET_REBOOT) is None
    assert why_not(Plan.BASIC, Feature.STATUS_VIEW) is None


def test_why_not_names_the_plan_needed() -> None:
    assert why_not(Plan.STANDARD, Feature.OUTLET_REBOOT) == (
        "Remote outlet-group reboot needs the Advanced plan; this device is on Standard."
    )


def test_why_not_on_basic_tells_firmware_is_started_from_the_lcd() -> None:
    reason = why_not(Plan.BASIC, Feature.REMOTE_FIRMWARE)
    assert reason is not None
    assert "needs the Standard plan" in reason
    assert "LCD" in reason


def test_every_feature_has_a_label() -> None:
    assert all(feature.display_name for feature in Feature)
