"""The risk engine as pure functions: the default policy reproduces ProctorBE exactly;
policies are validated data; per-second rules, thresholds and dismissals."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.errors import InvalidInput
from vigil.core.risk import (
    DEFAULT_POLICY,
    Observation,
    RiskPolicy,
    assess,
    parse_policy,
    stored_policy,
)

PROCTORBE_TYPES = ["NO_FACE", "MULTIPLE_FACES", "LOOKING_AWAY", "TAB_SWITCH"]


def proctorbe_calculate_risk(events: list[tuple[str, int]]) -> tuple[float, str]:
    """ProctorBE's services/scoring.py, transcribed: Σ WEIGHTS.get(type, 1) × severity;
    Low below 5, Medium below 10, High otherwise."""
    weights = {"NO_FACE": 2, "MULTIPLE_FACES": 4, "LOOKING_AWAY": 2, "TAB_SWITCH": 3}
    score = 0
    for event_type, severity in events:
        score += weights.get(event_type, 1) * severity
    if score < 5:
        return score, "Low"
    if score < 10:
        return score, "Medium"
    return score, "High"


def seen(*events: tuple[str, int] | tuple[str, int, float]) -> list[Observation]:
    return [Observation(i + 1, e[0], e[1], *e[2:]) for i, e in enumerate(events)]


@pytest.mark.parametrize(
    ("events", "score", "level"),
    [
        ([], 0, "Low"),
        ([("NO_FACE", 1)], 2, "Low"),
        ([("MULTIPLE_FACES", 1)], 4, "Low"),
        ([("LOOKING_AWAY", 1), ("NO_FACE", 1)], 4, "Low"),
        ([("TAB_SWITCH", 1), ("NO_FACE", 1)], 5, "Medium"),
        ([("TAB_SWITCH", 1), ("TAB_SWITCH", 1), ("NO_FACE", 1)], 8, "Medium"),
        ([("SOMETHING_ELSE", 1)] * 9, 9, "Medium"),
        ([("MULTIPLE_FACES", 1), ("MULTIPLE_FACES", 1), ("NO_FACE", 1)], 10, "High"),
        ([("TAB_SWITCH", 3)], 9, "Medium"),
        ([("NO_FACE", 0), ("TAB_SWITCH", 0)], 0, "Low"),
        ([("MULTIPLE_FACES", 10), ("LOOKING_AWAY", 10)], 60, "High"),
        ([("KEYBOARD", 0)] * 50 + [("NO_FACE", 2)], 4, "Low"),
    ],
)
def test_default_policy_matrix(events: list[tuple[str, int]], score: float, level: str) -> None:
    result = assess(seen(*events))
    assert (result.score, result.level) == (score, level)
    assert (result.score, result.level) == proctorbe_calculate_risk(events)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*PROCTORBE_TYPES, "APP_SWITCH", "CLIPBOARD", "X1"]),
            st.integers(min_value=0, max_value=10),
        ),
        max_size=40,
    )
)
def test_default_policy_equals_proctorbe_on_any_mix(events: list[tuple[str, int]]) -> None:
    result = assess(seen(*events))
    assert (result.score, result.level) == proctorbe_calculate_risk(events)
    assert sum(rule.points for rule in result.breakdown) == result.score


def test_thresholds_are_inclusive_lower_bounds() -> None:
    assert DEFAULT_POLICY.level(4.999) == "Low"
    assert DEFAULT_POLICY.level(5) == "Medium"
    assert DEFAULT_POLICY.level(9.999) == "Medium"
    assert DEFAULT_POLICY.level(10) == "High"


def test_default_policy_document_spells_out_proctorbe() -> None:
    assert DEFAULT_POLICY.document() == {
        "weights": {"NO_FACE": 2, "MULTIPLE_FACES": 4, "LOOKING_AWAY": 2, "TAB_SWITCH": 3},
        "per_second": {},
        "default_weight": 1,
        "thresholds": {"medium": 5, "high": 10},
    }
    assert parse_policy({}) == DEFAULT_POLICY


def test_breakdown_names_the_rules_and_events_behind_the_score() -> None:
    result = assess(seen(("NO_FACE", 1), ("TAB_SWITCH", 1), ("TAB_SWITCH", 1), ("KEYS", 0)))
    assert [rule.as_dict() for rule in result.breakdown] == [
        {
            "rule": "TAB_SWITCH",
            "weight": 3,
            "count": 2,
            "seconds": 0,
            "points": 6,
            "event_ids": [2, 3],
        },
        {"rule": "NO_FACE", "weight": 2, "count": 1, "seconds": 0, "points": 2, "event_ids": [1]},
    ]


def test_severity_zero_observations_score_nothing_even_with_a_per_second_rule() -> None:
    policy = parse_policy({"per_second": {"KEYBOARD": {"points": 1}}, "default_weight": 5})
    result = assess(seen(("KEYBOARD", 0, 600.0), ("KEYBOARD", 0)), policy)
    assert (result.score, result.level, result.breakdown) == (0, "Low", [])


def test_per_second_points_beyond_the_grace_period() -> None:
    policy = parse_policy(
        {"per_second": {"LOOKING_AWAY": {"points": 0.1, "after_seconds": 3}}},
    )
    # 2 (weight) + 0.1 × (10 − 3) = 2.7; the 2-second glance is within the grace: 2.
    result = assess(seen(("LOOKING_AWAY", 1, 10.0), ("LOOKING_AWAY", 1, 2.0)), policy)
    assert result.score == pytest.approx(4.7)
    assert result.score == 4.7  # rounded, not 4.700000000000001
    (rule,) = result.breakdown
    assert (rule.count, rule.seconds, rule.event_ids) == (2, 12.0, [1, 2])
    assert rule.as_dict()["points"] == 4.7


def test_per_second_rule_without_weight_scores_only_duration() -> None:
    policy = parse_policy(
        {"weights": {"SPEECH_DETECTED": 0}, "per_second": {"SPEECH_DETECTED": {"points": 0.5}}}
    )
    result = assess(seen(("SPEECH_DETECTED", 1, 12.0), ("SPEECH_DETECTED", 1, 0.0)), policy)
    assert result.score == 6
    assert result.breakdown[0].event_ids == [1]  # the 0-second span added no points


def test_dismissed_events_are_excluded() -> None:
    events = [
        Observation(1, "MULTIPLE_FACES", 1),
        Observation(2, "MULTIPLE_FACES", 1, dismissed=True),
        Observation(3, "TAB_SWITCH", 2, dismissed=True),
    ]
    result = assess(events)
    assert (result.score, result.level) == (4, "Low")
    assert [(r.rule, r.count, r.event_ids) for r in result.breakdown] == [
        ("MULTIPLE_FACES", 1, [1])
    ]
    undone = [events[0], Observation(2, "MULTIPLE_FACES", 1), events[2]]
    assert (assess(undone).score, assess(undone).level) == (8, "Medium")


def test_a_per_exam_policy_changes_weights_and_thresholds() -> None:
    strict = parse_policy(
        {
            "weights": {"tab_switch": 10},
            "default_weight": 0,
            "thresholds": {"medium": 1, "high": 20},
        }
    )
    events = seen(("TAB_SWITCH", 1), ("NO_FACE", 1))
    assert (assess(events, strict).score, assess(events, strict).level) == (10, "Medium")
    assert (assess(events).score, assess(events).level) == (5, "Medium")
    assert strict.weights == {"TAB_SWITCH": 10}  # keys take the event log's spelling


def test_weights_given_replace_the_whole_table() -> None:
    policy = parse_policy({"weights": {"TAB_SWITCH": 3}})
    assert assess(seen(("MULTIPLE_FACES", 1)), policy).score == 1  # default_weight, not 4


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"weights": {"NO_FACE": -1}}, "risk_policy.weights.NO_FACE"),
        ({"weights": {"NO_FACE": "heavy"}}, "risk_policy.weights.NO_FACE"),
        ({"weights": {"NO_FACE": 1e9}}, "risk_policy.weights.NO_FACE"),
        ({"weights": {"no face": 1}}, "risk_policy.weights"),
        ({"weights": {"tab_switch": 1, "TAB_SWITCH": 2}}, "risk_policy.weights"),
        ({"weights": None}, "risk_policy.weights"),
        ({"per_second": {"LOOKING_AWAY": 0.1}}, "risk_policy.per_second.LOOKING_AWAY"),
        (
            {"per_second": {"LOOKING_AWAY": {"pts": 1}}},
            "risk_policy.per_second.LOOKING_AWAY.points",
        ),
        (
            {"per_second": {"LOOKING_AWAY": {"points": 1, "after_seconds": -2}}},
            "risk_policy.per_second.LOOKING_AWAY.after_seconds",
        ),
        ({"default_weight": float("nan")}, "risk_policy.default_weight"),
        ({"thresholds": {"medium": 12, "high": 10}}, "risk_policy.thresholds"),
        ({"thresholds": {"medium": -1}}, "risk_policy.thresholds.medium"),
        ({"thresholds": {"low": 1}}, "risk_policy.thresholds.low"),
        ({"weight": {"NO_FACE": 2}}, "risk_policy.weight"),
        ([1, 2], "risk_policy"),
    ],
)
def test_bad_policies_name_the_field(document: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(document)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


def test_stored_policies_round_trip_and_parse_once() -> None:
    policy = parse_policy({"weights": {"NO_FACE": 7}, "thresholds": {"medium": 2, "high": 3}})
    document = json.loads(json.dumps(policy.document()))
    assert stored_policy(document) == policy
    assert stored_policy(dict(reversed(list(document.items())))) is stored_policy(document)
    assert stored_policy(None) is DEFAULT_POLICY
    assert isinstance(stored_policy(document), RiskPolicy)
