"""Analysis throughput on one core: snapshots per second and 15 s audio chunks per second.

Vision: 640x480 JPEG snapshots made from scikit-image's astronaut photo (frontal, rolled 30
degrees, turned 20 degrees by tests/support/analysis_assets.py), each decoded and analysed
end to end. Vigil's FaceAnalyzer is measured side by side, in the same run and on the same
bytes, with the reference ProctorBE's configuration (tests/support/reference_proctorbe.py:
short-range face detection, then a tracking face mesh with refined landmarks on the whole
frame, then its pose arithmetic). A no-face picture (coffee) and a two-face picture are
measured separately, since they skip the mesh.

Audio: 15 s WebM/Opus chunks (espeak-ng speech inside silence; a tone), decoded with PyAV to
16 kHz mono and run through Silero VAD (sequence model, the default, and the streaming model).

The process pins itself to one CPU (os.sched_setaffinity) before loading anything, so every
thread MediaPipe or onnxruntime starts shares that core: figures are per core. Targets run
interleaved (A B A B ...) and each figure is the median of --rounds rounds.

    python bench/bench_analysis.py [--cpu 1] [--rounds 7] [--frames 60] [--chunks 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})
    # Belt and braces: the libraries size their pools from these when they read them.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def measure(
    targets: dict[str, Callable[[], int]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Run every target once per round, in alternating order. Per round: items per CPU-second
    of this process (all its threads, all on the one pinned core) and items per wall-second.
    On a shared machine the CPU figure is the per-core rate; the wall one also counts the time
    other processes held the core."""
    results: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []} for name in targets}
    names = list(targets)
    for name in names:  # warm-up: graphs built, caches filled
        targets[name]()
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            cpu, wall = time.process_time(), time.perf_counter()
            items = targets[name]()
            results[name]["cpu"].append(items / (time.process_time() - cpu))
            results[name]["wall"].append(items / (time.perf_counter() - wall))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--frames", type=int, default=60, help="snapshots per round")
    parser.add_argument("--chunks", type=int, default=10, help="audio chunks per round")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    pin(args.cpu)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))

    import cv2
    import numpy as np
    from tests.support import analysis_assets as assets
    from tests.support.reference_proctorbe import ReferenceDetector

    from vigil.analysis.audio import SpeechDetector
    from vigil.analysis.vision import FaceAnalyzer, LookingAwayThresholds, analyze_frame

    def snapshot(image: np.ndarray) -> bytes:
        return assets.jpeg(assets.on_canvas(image, 640, 480), quality=85)

    one_face = [
        snapshot(assets.astronaut()),
        snapshot(assets.rolled_astronaut(30)),
        snapshot(assets.turned_astronaut(20)),
    ]
    no_face = [snapshot(assets.coffee())]
    two_faces = [assets.jpeg(cv2.resize(assets.two_astronauts(), (640, 320)), quality=85)]
    thresholds = LookingAwayThresholds()
    ours = FaceAnalyzer()
    ours_small = FaceAnalyzer(max_side=320)
    reference = ReferenceDetector()

    def vigil_run(analyzer: FaceAnalyzer, frames: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            for i in range(args.frames):
                analyze_frame(analyzer, frames[i % len(frames)], thresholds)
            return args.frames

        return run

    def reference_run(frames: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            for i in range(args.frames):
                bgr = cv2.imdecode(np.frombuffer(frames[i % len(frames)], np.uint8), 1)
                reference.analyze(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            return args.frames

        return run

    vision = {
        "vigil, one face": vigil_run(ours, one_face),
        "vigil max_side=320, one face": vigil_run(ours_small, one_face),
        "reference, one face": reference_run(one_face),
        "vigil, no face": vigil_run(ours, no_face),
        "reference, no face": reference_run(no_face),
        "vigil, two faces": vigil_run(ours, two_faces),
        "reference, two faces": reference_run(two_faces),
    }
    verdicts = {
        "vigil": [
            analyze_frame(ours, f, thresholds).events for f in one_face + no_face + two_faces
        ],
        "vigil max_side=320": [
            analyze_frame(ours_small, f, thresholds).events for f in one_face + no_face + two_faces
        ],
    }

    def reference_events(frame: bytes) -> list[str]:
        bgr = cv2.imdecode(np.frombuffer(frame, np.uint8), 1)
        return reference.analyze(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    verdicts["reference"] = [reference_events(f) for f in one_face + no_face + two_faces]
    verdicts = {k: [[str(e) for e in v] for v in vs] for k, vs in verdicts.items()}

    chunks = [assets.speech_chunk(), assets.tone_chunk()]
    sequence, streaming = SpeechDetector(), SpeechDetector(streaming=True)

    def audio_run(detector: SpeechDetector) -> Callable[[], int]:
        def run() -> int:
            for i in range(args.chunks):
                detector.analyze(chunks[i % len(chunks)])
            return args.chunks

        return run

    audio = {
        "silero sequence model (default)": audio_run(sequence),
        "silero streaming model": audio_run(streaming),
    }

    started = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    load_before = os.getloadavg()
    vision_rates = measure(vision, args.rounds)
    audio_rates = measure(audio, args.rounds)
    load_after = os.getloadavg()

    print(f"date: {started}; pinned to CPU {args.cpu}; rounds {args.rounds}")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"verdicts (one-face x3, no face, two faces): {verdicts}")
    print()
    print("| target | per round | per CPU-second: median (min-max) | per wall-second: median |")
    print("|---|---:|---:|---:|")
    figures: dict[str, dict[str, float]] = {}
    for rates, unit in (
        (vision_rates, f"{args.frames} snapshots"),
        (audio_rates, f"{args.chunks} chunks"),
    ):
        for name, values in rates.items():
            cpu, wall = values["cpu"], values["wall"]
            figures[name] = {
                "cpu_median": statistics.median(cpu),
                "cpu_min": min(cpu),
                "cpu_max": max(cpu),
                "wall_median": statistics.median(wall),
            }
            print(
                f"| {name} | {unit} | {statistics.median(cpu):.1f} ({min(cpu):.1f}-{max(cpu):.1f})"
                f" | {statistics.median(wall):.1f} |"
            )
    if args.json:
        args.json.write_text(json.dumps({"date": started, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
