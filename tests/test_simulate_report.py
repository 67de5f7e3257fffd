"""What `vigil simulate` reports about latency: the whole run, and the requests sent once
every student had joined (the steady load of a ramped run)."""

from __future__ import annotations

from rich.console import Console

from vigil.simulate.runner import RunResult, Verification, report
from vigil.simulate.traffic import Traffic

SNAPSHOTS = "susie evidencias/snapshots"


def traffic_with_a_slow_ramp() -> Traffic:
    """100 snapshots: the first 20, sent while students joined (before t=20), took 2 s; the
    80 sent after took 50 ms."""
    traffic = Traffic()
    for n in range(100):
        traffic.sent[SNAPSHOTS] += 1
        traffic.acked[SNAPSHOTS] += 1
        traffic.latencies[SNAPSHOTS].append(2.0 if n < 20 else 0.05)
        traffic.sent_at[SNAPSHOTS].append(float(n))
    return traffic


def test_the_percentile_since_a_moment_counts_only_requests_sent_from_it_on() -> None:
    traffic = traffic_with_a_slow_ramp()
    assert traffic.percentile(SNAPSHOTS, 0.99) == 2.0
    assert traffic.percentile(SNAPSHOTS, 0.99, since=20.0) == 0.05
    assert traffic.percentile(SNAPSHOTS, 0.99, since=19.0) == 2.0  # one slow one left
    assert traffic.percentile(SNAPSHOTS, 0.99, since=1000.0) == 0.0  # none sent


def test_a_ramped_run_reports_the_p99_once_everyone_joined_beside_the_whole_runs() -> None:
    console = Console(record=True, width=200)
    ramped = RunResult(traffic_with_a_slow_ramp(), Verification(), 100.0, 0.0, 20.0)
    report(ramped, console)
    text = console.export_text()
    assert "p99 ms once all joined" in text
    row = next(line for line in text.splitlines() if SNAPSHOTS in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[-3:-1] == ["2000.0", "50.0"]  # p99: the whole run, then after the joins


def test_a_run_without_a_ramp_has_no_after_the_joins_column() -> None:
    console = Console(record=True, width=200)
    report(RunResult(traffic_with_a_slow_ramp(), Verification(), 100.0, 5.0, 5.0), console)
    assert "once all joined" not in console.export_text()
