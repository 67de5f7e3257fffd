"""The job side's view of the analyzers (vision.py, audio.py, media.py): the few calls and
types the pipeline needs, with one analyzer instance per worker thread (MediaPipe graphs and
ONNX sessions are not shared between threads).

In a server (embedded mode) the analyzers run in child processes instead
(`analyze_in_processes`): on the server's own threads, their Python parts (decoding, the
models' wrappers) hold the interpreter lock the event loop needs, and a backlog of
analysis slowed every upload. The children run behind the server (SCHED_IDLE).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from vigil.analysis import audio, media, vision

NO_FACE = "NO_FACE"
MULTIPLE_FACES = "MULTIPLE_FACES"
LOOKING_AWAY = "LOOKING_AWAY"
INVALID_IMAGE = "INVALID_IMAGE"
NO_FRAME_RECEIVED = "NO_FRAME_RECEIVED"
SPEECH_DETECTED = "SPEECH_DETECTED"

Undecodable = media.UndecodableMedia
_local = threading.local()
T = TypeVar("T")
_processes: ProcessPoolExecutor | None = None
_process_count = 0
PARENT_CHECK_SECONDS = 1.0  # how soon a child notices that its server is gone


def analyze_in_processes(workers: int) -> None:
    """From now on, run the analyzers in `workers` child processes (embedded mode)."""
    global _processes, _process_count
    if _processes is None and workers > 0:
        _process_count = workers
        _processes = _new_pool(workers)


def stop_processes() -> None:
    global _processes
    if _processes is not None:
        _processes.shutdown(wait=False, cancel_futures=True)
        _processes = None


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded server
        initializer=_behind_the_server,
    )


def _behind_the_server() -> None:
    """Run only on CPU the server leaves idle, and end with the server.

    Under SCHED_IDLE a waking request thread takes the core at once; at nice 10 it could
    wait out the child's time slice, and a thread preempted while holding the interpreter
    lock stalls the event loop with it. A server killed with -9, or ended by the SIGTERM
    that uvicorn raises again after its shutdown (which skips the exit hooks that would
    stop the pool), cannot stop its children: they watch for it themselves."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        os.nice(10)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()


def _exit_with(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _run(call: Callable[[bytes], T], data: bytes) -> T:
    global _processes
    pool = _processes
    if pool is None:
        return call(data)
    try:
        return pool.submit(call, data).result()
    except BrokenProcessPool:
        # A child died (killed, or crashed in native code): this job fails and is retried;
        # later jobs get fresh children.
        if _processes is pool:
            _processes = _new_pool(_process_count)
        raise


def _frame_analyzer() -> vision.FaceAnalyzer:
    analyzer: vision.FaceAnalyzer | None = getattr(_local, "frames", None)
    if analyzer is None:
        analyzer = _local.frames = vision.FaceAnalyzer()
    return analyzer


def _speech_detector() -> audio.SpeechDetector:
    detector: audio.SpeechDetector | None = getattr(_local, "speech", None)
    if detector is None:
        detector = _local.speech = audio.SpeechDetector()
    return detector


Observation = vision.FrameObservation
Thresholds = vision.LookingAwayThresholds


def observation_details(observation: Observation, at: datetime | None) -> dict[str, object]:
    """What an evidence row keeps of its frame (`details["vision"]`)."""
    details: dict[str, object] = {
        "face_count": observation.face_count,
        "confidence": _rounded(observation.confidence),
        "yaw": _rounded(observation.yaw),
        "pitch": _rounded(observation.pitch),
        "roll": _rounded(observation.roll),
    }
    if at is not None:
        details["at"] = at.isoformat()
    return details


@dataclass(frozen=True)
class TimedObservation:
    evidence_id: int
    at: datetime
    observation: Observation

    @classmethod
    def from_details(cls, evidence_id: int, details: Mapping[str, Any]) -> TimedObservation:
        at = datetime.fromisoformat(str(details["at"]))
        return cls(
            evidence_id=evidence_id,
            at=at,
            observation=Observation(
                timestamp=at.timestamp(),
                face_count=int(details.get("face_count") or 0),
                confidence=float(details.get("confidence") or 0.0),
                yaw=_maybe_float(details.get("yaw")),
                pitch=_maybe_float(details.get("pitch")),
                roll=_maybe_float(details.get("roll")),
            ),
        )


@dataclass(frozen=True)
class Span:
    rule: str
    start: datetime
    end: datetime
    frames: int
    first_evidence_id: int
    last_evidence_id: int

    @property
    def key(self) -> str:
        # Named by its first frame: a span that grows keeps its key (and its event).
        return f"vision:{self.rule}:{self.first_evidence_id}"

    @property
    def duration_seconds(self) -> float:
        return round((self.end - self.start).total_seconds(), 3)


@dataclass(frozen=True)
class Speech:
    spans: list[tuple[float, float]]
    ratio: float
    duration: float

    def as_details(self) -> dict[str, object]:
        return {
            "speech_ratio": round(self.ratio, 4),
            "duration_seconds": round(self.duration, 3),
            "spans": [[round(s, 3), round(e, 3)] for s, e in self.spans],
        }


def observe_image(data: bytes) -> Observation:
    return _run(_observe_image, data)


def observe_segment(data: bytes) -> Observation:
    return _run(_observe_segment, data)


def _observe_image(data: bytes) -> Observation:
    return _frame_analyzer().observe_bytes(data)


def _observe_segment(data: bytes) -> Observation:
    frame = media.sample_video_frame(data)
    return _frame_analyzer().observe(frame.image, timestamp=frame.offset)


def frame_verdict(observation: Observation, thresholds: Thresholds) -> list[str]:
    return [event.value for event in vision.frame_events(observation, thresholds)]


def vision_spans(observed: Sequence[TimedObservation], thresholds: Thresholds) -> list[Span]:
    """The spans over a session's observations (time-ordered), each tied to the evidence
    rows of its first and last frame."""
    found = vision.find_spans([o.observation for o in observed], thresholds)
    by_time: dict[float, TimedObservation] = {}
    for timed in observed:
        by_time.setdefault(timed.observation.timestamp, timed)
    spans = []
    for span in found:
        first, last = by_time[span.start], by_time[span.end]
        spans.append(
            Span(
                rule=span.event.value,
                start=first.at,
                end=last.at,
                frames=span.frames,
                first_evidence_id=first.evidence_id,
                last_evidence_id=last.evidence_id,
            )
        )
    return spans


def find_speech(data: bytes) -> Speech:
    return _run(_find_speech, data)


def _find_speech(data: bytes) -> Speech:
    found = _speech_detector().analyze(data)
    spans = [(float(span.start), float(span.end)) for span in found.spans]
    return Speech(spans, float(found.speech_ratio), float(found.duration))


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
