"""A desktop agent's logged telemetry blocks turned into proctoring findings (pure).

Input: one chunk's blocks as the event log keeps them (source `agent`, severity 0; see
core/events/agent.py). Output: the findings that score:

| block | finding | key (unique per session) |
|---|---|---|
| `event` `app_switch` | `APP_SWITCH` | per block |
| `event` `clipboard` | `CLIPBOARD` | per block |
| `event` `device_change` | `DEVICE_CHANGE` | per block |
| `host_info` with two or more `displays` (a list or a count) | `SECOND_DISPLAY` | per session |
| `host_info` `full` with `vm_indicators` | `VM_DETECTED` | per session |
| `host_info` `full` with `remote_desktop_indicators` | `REMOTE_DESKTOP` | per session |

A machine fact (a VM, a second screen) is reported in every fingerprint and heartbeat; it
is one finding for the session, at the first chunk that reported it, not one per block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

APP_SWITCH = "APP_SWITCH"
CLIPBOARD = "CLIPBOARD"
DEVICE_CHANGE = "DEVICE_CHANGE"
SECOND_DISPLAY = "SECOND_DISPLAY"
VM_DETECTED = "VM_DETECTED"
REMOTE_DESKTOP = "REMOTE_DESKTOP"

_PER_BLOCK = {"APP_SWITCH": APP_SWITCH, "CLIPBOARD": CLIPBOARD, "DEVICE_CHANGE": DEVICE_CHANGE}
# What a finding keeps of the block: names and counts, never clipboard text or keystrokes.
_KEPT_FIELDS = {
    APP_SWITCH: ("from", "to", "title"),
    CLIPBOARD: ("action", "length", "format"),
    DEVICE_CHANGE: ("device", "action", "name"),
}


@dataclass(frozen=True)
class LoggedBlock:
    """One agent block from the event log: its position in the chunk, type and payload."""

    position: int
    type: str
    occurred_at: datetime
    data: Mapping[str, object]


@dataclass(frozen=True)
class Finding:
    type: str
    occurred_at: datetime
    # Unique within the session with the chunk's evidence id: `per_block` findings use the
    # block's position, session-wide facts use none (see `key`).
    position: int | None
    data: dict[str, object] = field(default_factory=dict)

    def key(self, evidence_id: int) -> str:
        if self.position is None:
            return f"telemetry:{self.type}"
        return f"telemetry:{evidence_id}:{self.position}"


def findings(blocks: Iterable[LoggedBlock]) -> list[Finding]:
    found: list[Finding] = []
    facts: dict[str, Finding] = {}
    for block in blocks:
        kind = _PER_BLOCK.get(block.type)
        if kind is not None:
            kept = {k: block.data[k] for k in _KEPT_FIELDS[kind] if k in block.data}
            found.append(Finding(kind, block.occurred_at, block.position, kept))
        elif block.type == "HOST_INFO":
            for fact in _host_facts(block):
                facts.setdefault(fact.type, fact)
    return found + sorted(facts.values(), key=lambda f: (f.occurred_at, f.type))


def _host_facts(block: LoggedBlock) -> list[Finding]:
    facts = []
    displays = _display_count(block.data.get("displays"))
    if displays is not None and displays > 1:
        facts.append(Finding(SECOND_DISPLAY, block.occurred_at, None, {"displays": displays}))
    for name, kind in (
        ("vm_indicators", VM_DETECTED),
        ("remote_desktop_indicators", REMOTE_DESKTOP),
    ):
        indicators = block.data.get(name)
        if isinstance(indicators, list) and indicators:
            shown = [str(i)[:100] for i in indicators[:20]]
            facts.append(Finding(kind, block.occurred_at, None, {"indicators": shown}))
    return facts


def _display_count(value: object) -> int | None:
    """`displays` is a list of screens in a `full` fingerprint and a count in a heartbeat."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return len(value)
    return None
