"""The risk engine: a policy (data) turns a session's events into a score, a level and
a breakdown a reviewer can read. The default reproduces ProctorBE exactly.

Points of one event, under a policy (docs/risk.md):
- severity 0 (a raw observation, such as an agent's keystroke counts): nothing;
- otherwise weight × severity (ProctorBE's formula), plus, for a type with a per-second
  rule, `points` for every second the event lasted beyond `after_seconds`.
A dismissed event (a reviewer's false positive) scores nothing and is left out of the
breakdown. The score is the sum; the level compares it with the thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from vigil.core.errors import InvalidInput

MAX_TYPE_LENGTH = 64
MAX_WEIGHT = 1000.0
MAX_THRESHOLD = 1_000_000_000.0
MAX_RULES = 200
# Scores are sums of floats (0.1 points per second …): rounded so that the same events
# give the same score whatever order they were added in.
SCORE_DECIMALS = 6

LOW, MEDIUM, HIGH = "Low", "Medium", "High"


def normalise_event_type(event_type: str) -> str:
    """The one spelling of an event type: stripped, upper-cased, letters/digits/`_` only."""
    cleaned = event_type.strip().upper()
    if not cleaned:
        raise ValueError("an event type must not be empty")
    if len(cleaned) > MAX_TYPE_LENGTH:
        raise ValueError(f"an event type is at most {MAX_TYPE_LENGTH} characters")
    if not all(c.isalnum() or c == "_" for c in cleaned):
        raise ValueError("an event type may hold only letters, digits and underscores")
    return cleaned


Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]
Threshold = Annotated[float, Field(ge=0, le=MAX_THRESHOLD, allow_inf_nan=False)]


def _normalised_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in table.items():
        name = normalise_event_type(key)
        if name in result:
            raise ValueError(f"{key!r} names the event type {name} twice")
        result[name] = value
    return result


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerSecond(Strict):
    points: Weight
    after_seconds: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] = 0.0


class Thresholds(Strict):
    medium: Threshold = 5.0
    high: Threshold = 10.0

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.medium > self.high:
            raise ValueError("thresholds.medium must not be above thresholds.high")
        return self


DEFAULT_WEIGHTS: dict[str, float] = {
    "NO_FACE": 2,
    "MULTIPLE_FACES": 4,
    "LOOKING_AWAY": 2,
    "TAB_SWITCH": 3,
}


class RiskPolicy(Strict):
    """A policy document. A field left out takes the default policy's value; `weights`,
    when given, is the whole table (types it does not name weigh `default_weight`)."""

    weights: Annotated[
        dict[str, Weight], Field(max_length=MAX_RULES), AfterValidator(_normalised_keys)
    ] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    per_second: Annotated[
        dict[str, PerSecond], Field(max_length=MAX_RULES), AfterValidator(_normalised_keys)
    ] = Field(default_factory=dict)
    default_weight: Weight = 1.0
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @field_validator("weights", "per_second", mode="before")
    @classmethod
    def _a_table(cls, value: object) -> object:
        if value is None:
            raise ValueError("must be an object, not null")
        return value

    def weight(self, event_type: str) -> float:
        return self.weights.get(event_type, self.default_weight)

    def points(self, event_type: str, severity: int, seconds: float = 0.0) -> float:
        if severity <= 0:
            return 0.0
        points = self.weight(event_type) * severity
        rule = self.per_second.get(event_type)
        if rule is not None and seconds > rule.after_seconds:
            points += rule.points * (seconds - rule.after_seconds)
        return points

    def level(self, score: float) -> str:
        if score >= self.thresholds.high:
            return HIGH
        if score >= self.thresholds.medium:
            return MEDIUM
        return LOW

    def document(self) -> dict[str, Any]:
        """The policy as JSON, every field spelt out (what an exam stores and GET returns)."""
        return self.model_dump(mode="json")


DEFAULT_POLICY = RiskPolicy()


def parse_policy(document: object, field: str = "risk_policy") -> RiskPolicy:
    """A validated policy, or InvalidInput naming the first bad field (`weights.NO_FACE`)."""
    try:
        return RiskPolicy.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        where = f"{field}.{location}" if location else field
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid')}", field=where) from exc


def stored_policy(document: Mapping[str, Any] | None) -> RiskPolicy:
    """The policy an exam's `risk_policy` column holds; None is the default."""
    if document is None:
        return DEFAULT_POLICY
    return _cached(json.dumps(document, sort_keys=True, separators=(",", ":")))


@lru_cache(maxsize=256)
def _cached(text: str) -> RiskPolicy:
    # Events arrive many times a second: the same stored document is parsed once.
    return RiskPolicy.model_validate_json(text)


@dataclass(frozen=True, slots=True)
class Observation:
    """What the engine needs of an event."""

    id: int
    type: str
    severity: int
    seconds: float = 0.0
    dismissed: bool = False


@dataclass
class RuleTotal:
    rule: str
    weight: float
    count: int = 0
    seconds: float = 0.0
    points: float = 0.0
    event_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "weight": self.weight,
            "count": self.count,
            "seconds": round(self.seconds, SCORE_DECIMALS),
            "points": round(self.points, SCORE_DECIMALS),
            "event_ids": self.event_ids,
        }


@dataclass(frozen=True)
class RiskAssessment:
    score: float
    level: str
    breakdown: list[RuleTotal]

    def breakdown_document(self) -> list[dict[str, Any]]:
        return [rule.as_dict() for rule in self.breakdown]


def assess(
    observations: Iterable[Observation], policy: RiskPolicy = DEFAULT_POLICY
) -> RiskAssessment:
    totals: dict[str, RuleTotal] = {}
    for seen in observations:
        if seen.dismissed:
            continue
        points = policy.points(seen.type, seen.severity, seen.seconds)
        if not points:
            # Raw observations score nothing and would only bury the rules that did.
            continue
        total = totals.get(seen.type)
        if total is None:
            total = totals[seen.type] = RuleTotal(rule=seen.type, weight=policy.weight(seen.type))
        total.count += 1
        total.seconds += seen.seconds
        total.points += points
        total.event_ids.append(seen.id)
    score = round(sum(t.points for t in totals.values()), SCORE_DECIMALS)
    breakdown = sorted(totals.values(), key=lambda t: (-t.points, t.rule))
    return RiskAssessment(score=score, level=policy.level(score), breakdown=breakdown)
