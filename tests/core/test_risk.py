"""The default policy reproduces ProctorBE's weights and thresholds exactly."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vigil.core.risk import DEFAULT_POLICY, RiskPolicy, assess


@dataclass
class Event:
    id: int
    type: str
    severity: int = 1


@pytest.mark.parametrize(
    ("types", "score", "level"),
    [
        ([], 0, "Low"),
        (["NO_FACE"], 2, "Low"),
        (["MULTIPLE_FACES"], 4, "Low"),
        (["LOOKING_AWAY", "NO_FACE"], 4, "Low"),
        (["TAB_SWITCH", "NO_FACE"], 5, "Medium"),
        (["TAB_SWITCH", "TAB_SWITCH", "NO_FACE"], 8, "Medium"),
        (["SOMETHING_ELSE"] * 9, 9, "Medium"),
        (["MULTIPLE_FACES", "MULTIPLE_FACES", "NO_FACE"], 10, "High"),
    ],
)
def test_default_weights_and_levels(types: list[str], score: float, level: str) -> None:
    result = assess(Event(i, t) for i, t in enumerate(types))
    assert (result.score, result.level) == (score, level)


def test_severity_multiplies_the_weight() -> None:
    result = assess([Event(1, "TAB_SWITCH", severity=3)])
    assert result.score == 9
    assert result.level == "Medium"


def test_breakdown_names_the_rules_and_events_behind_the_score() -> None:
    result = assess([Event(1, "NO_FACE"), Event(2, "TAB_SWITCH"), Event(3, "TAB_SWITCH")])
    assert [(r.rule, r.count, r.points, r.event_ids) for r in result.breakdown] == [
        ("TAB_SWITCH", 2, 6, [2, 3]),
        ("NO_FACE", 1, 2, [1]),
    ]
    assert sum(r.points for r in result.breakdown) == result.score


def test_a_policy_is_data() -> None:
    strict = RiskPolicy(weights={"TAB_SWITCH": 10}, default_weight=0, medium_at=1, high_at=20)
    result = assess([Event(1, "TAB_SWITCH"), Event(2, "NO_FACE")], strict)
    assert (result.score, result.level) == (10, "Medium")
    assert DEFAULT_POLICY.level(4.99) == "Low"
    assert DEFAULT_POLICY.level(10) == "High"
