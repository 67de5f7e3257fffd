"""A device's fingerprint over a session, from the agent's `host_info` blocks
(docs/telemetry-format.md): the latest full snapshot, heartbeats, and what changed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from vigil.core.events.models import ProctoringEvent

NOTABLE_PROCESSES = {
    "anydesk", "teamviewer", "rustdesk", "vncviewer", "tvnserver", "obs", "obs64",
    "discord", "zoom", "skype", "telegram", "whatsapp", "slack", "chatgpt", "copilot",
}  # fmt: skip
MAX_CHANGES = 500


def millis(event: ProctoringEvent) -> int:
    return int(event.occurred_at.timestamp() * 1000)


def as_snapshot(event: ProctoringEvent) -> dict[str, Any]:
    return {"timestamp": millis(event), **(event.data or {})}


def _names(items: object, key: str) -> set[str]:
    if not isinstance(items, list):
        return set()
    return {str(item.get(key)) for item in items if isinstance(item, dict) and item.get(key)}


def _display_count(data: dict[str, Any]) -> int | None:
    displays = data.get("displays")
    if isinstance(displays, list):
        return len(displays)
    return displays if isinstance(displays, int) and not isinstance(displays, bool) else None


def _network(data: dict[str, Any]) -> set[str] | None:
    interfaces = data.get("network_interfaces")
    if not isinstance(interfaces, list):
        return None
    return {
        f"{item.get('name')}={item.get('ipv4')}" for item in interfaces if isinstance(item, dict)
    }


def summarise(events: Iterable[ProctoringEvent]) -> dict[str, Any]:
    """What changed during the session, each change with the time it was first seen."""
    ordered: Sequence[ProctoringEvent] = sorted(events, key=lambda e: (e.occurred_at, e.id))
    changes: list[dict[str, Any]] = []
    baseline_processes: set[str] | None = None
    seen_processes: set[str] = set()
    seen_indicators: set[tuple[str, str]] = set()
    most_displays: int | None = None
    network: set[str] | None = None
    counts = {"full": 0, "heartbeat": 0}

    def note(kind: str, when: int, **detail: Any) -> None:
        if len(changes) < MAX_CHANGES:
            changes.append({"kind": kind, "first_seen": when, **detail})

    for event in ordered:
        data, when = event.data or {}, millis(event)
        counts[str(data.get("kind"))] = counts.get(str(data.get("kind")), 0) + 1
        displays = _display_count(data)
        if displays is not None:
            if most_displays is not None and displays > most_displays:
                note("display_added", when, displays=displays, before=most_displays)
            most_displays = displays if most_displays is None else max(most_displays, displays)
        processes = _names(data.get("processes"), "name")
        if data.get("kind") == "full" and baseline_processes is None:
            baseline_processes = processes
            seen_processes = set(processes)
        for name in sorted(processes - seen_processes):
            notable = name.lower().removesuffix(".exe") in NOTABLE_PROCESSES
            note("process_started", when, process=name, notable=notable)
            seen_processes.add(name)
        for field, kind in (("vm_indicators", "virtual_machine"),
                            ("remote_desktop_indicators", "remote_desktop")):  # fmt: skip
            indicators = data.get(field)
            for indicator in indicators if isinstance(indicators, list) else []:
                if (kind, str(indicator)) not in seen_indicators:
                    seen_indicators.add((kind, str(indicator)))
                    note(kind, when, indicator=str(indicator))
        current = _network(data)
        if current is not None:
            if network is not None and current != network:
                note("network_changed", when, added=sorted(current - network),
                     removed=sorted(network - current))  # fmt: skip
            network = current
    return {
        "full_snapshots": counts["full"],
        "heartbeats": counts["heartbeat"],
        "first_seen": millis(ordered[0]) if ordered else None,
        "last_seen": millis(ordered[-1]) if ordered else None,
        "virtual_machine_detected": any(k == "virtual_machine" for k, _ in seen_indicators),
        "remote_desktop_detected": any(k == "remote_desktop" for k, _ in seen_indicators),
        "changes": changes,
    }
