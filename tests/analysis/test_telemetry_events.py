"""Agent blocks to findings: per-block events, and machine facts once per session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.analysis.telemetry_events import LoggedBlock, findings

T0 = datetime(2026, 2, 19, 10, tzinfo=UTC)


def block(position: int, block_type: str, **data: object) -> LoggedBlock:
    return LoggedBlock(position, block_type, T0 + timedelta(seconds=position), data)


def test_events_become_findings_without_personal_payloads() -> None:
    found = findings(
        [
            block(0, "APP_SWITCH", event="app_switch", to="chrome.exe", title="Chat"),
            block(1, "KEYBOARD", event="keyboard", keys=12),
            block(2, "CLIPBOARD", event="clipboard", action="paste", length=9, text="secret"),
            block(3, "DEVICE_CHANGE", event="device_change", device="usb", action="added"),
            block(4, "DNS_QUERY", event="dns_query", name="chat.example"),
        ]
    )
    assert [(f.type, f.position, f.data) for f in found] == [
        ("APP_SWITCH", 0, {"to": "chrome.exe", "title": "Chat"}),
        ("CLIPBOARD", 2, {"action": "paste", "length": 9}),
        ("DEVICE_CHANGE", 3, {"device": "usb", "action": "added"}),
    ]
    assert found[0].key(17) == "telemetry:17:0"


def test_machine_facts_are_one_finding_each_at_their_first_sighting() -> None:
    found = findings(
        [
            block(0, "HOST_INFO", kind="full", displays=[{"id": 0}],
                  vm_indicators=["vmware_mac_prefix"], remote_desktop_indicators=[]),
            block(1, "HOST_INFO", kind="heartbeat", displays=1),
            block(2, "HOST_INFO", kind="heartbeat", displays=2),
            block(3, "HOST_INFO", kind="heartbeat", displays=3),
            block(4, "HOST_INFO", kind="full", displays=[{"id": 0}],
                  vm_indicators=["vbox_driver"], remote_desktop_indicators=["mstsc.exe"]),
        ]
    )  # fmt: skip
    assert [(f.type, f.occurred_at.second, f.data) for f in found] == [
        ("VM_DETECTED", 0, {"indicators": ["vmware_mac_prefix"]}),
        ("SECOND_DISPLAY", 2, {"displays": 2}),
        ("REMOTE_DESKTOP", 4, {"indicators": ["mstsc.exe"]}),
    ]
    assert {f.key(5) for f in found} == {
        "telemetry:VM_DETECTED",
        "telemetry:SECOND_DISPLAY",
        "telemetry:REMOTE_DESKTOP",
    }


def test_a_single_display_or_odd_values_find_nothing() -> None:
    assert (
        findings(
            [
                block(0, "HOST_INFO", kind="heartbeat", displays=1),
                block(1, "HOST_INFO", kind="heartbeat", displays=True),
                block(2, "HOST_INFO", kind="heartbeat", displays="two"),
                block(3, "HOST_INFO", kind="full", vm_indicators="yes"),
                block(4, "META", agent="1.0"),
            ]
        )
        == []
    )
