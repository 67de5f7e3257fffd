"""The risk engine: a policy (data) turns a session's events into a score, a level and
a breakdown a reviewer can read. The default reproduces ProctorBE exactly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class ScoredEvent(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def severity(self) -> int: ...


@dataclass(frozen=True)
class RiskPolicy:
    weights: Mapping[str, float]
    default_weight: float = 1.0
    medium_at: float = 5.0
    high_at: float = 10.0

    def points(self, event: ScoredEvent) -> float:
        return self.weights.get(event.type, self.default_weight) * event.severity

    def level(self, score: float) -> str:
        if score >= self.high_at:
            return "High"
        if score >= self.medium_at:
            return "Medium"
        return "Low"


DEFAULT_POLICY = RiskPolicy(
    weights={"NO_FACE": 2, "MULTIPLE_FACES": 4, "LOOKING_AWAY": 2, "TAB_SWITCH": 3}
)


@dataclass
class RuleTotal:
    rule: str
    weight: float
    count: int = 0
    points: float = 0.0
    event_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "weight": self.weight,
            "count": self.count,
            "points": self.points,
            "event_ids": self.event_ids,
        }


@dataclass(frozen=True)
class RiskAssessment:
    score: float
    level: str
    breakdown: list[RuleTotal]


def assess(events: Iterable[ScoredEvent], policy: RiskPolicy = DEFAULT_POLICY) -> RiskAssessment:
    totals: dict[str, RuleTotal] = {}
    for event in events:
        weight = policy.weights.get(event.type, policy.default_weight)
        total = totals.setdefault(event.type, RuleTotal(rule=event.type, weight=weight))
        total.count += 1
        total.points += policy.points(event)
        total.event_ids.append(event.id)
    score = sum(t.points for t in totals.values())
    # Raw observations (severity 0, such as an agent's keystroke counts) score nothing and
    # would only bury the rules that did; the breakdown lists what made the score.
    scored = [t for t in totals.values() if t.points != 0]
    breakdown = sorted(scored, key=lambda t: (-t.points, t.rule))
    return RiskAssessment(score=score, level=policy.level(score), breakdown=breakdown)
