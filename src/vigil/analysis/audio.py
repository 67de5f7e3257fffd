"""Speech in audio chunks: Silero VAD's ONNX model run with onnxruntime (no torch).

Two exports of the same network ship in ``models/`` (Silero VAD 6.2.3, MIT; see
docs/analysis.md):
- ``silero_vad.onnx``, the streaming model: one call per 512 new samples at 16 kHz (32 ms)
  with the previous window's last 64 samples prepended as context, carrying a recurrent state
  (2, 1, 128) from call to call;
- ``silero_vad_16k_sequence.onnx``, the same computation over many windows in one call: rows
  of 64 context + 512 samples, LSTM state as ``h``/``c`` (1, 1, 128). Silero publishes it as
  giving the streaming model's probabilities; a test checks they agree here. It is the
  default because one call per chunk instead of 469 is several times cheaper.
Either gives one speech probability per window; ``speech_spans`` turns those into spans with
the same hysteresis as Silero's own ``get_speech_timestamps``.

``SpeechDetector`` is thread-safe: onnxruntime allows concurrent ``run`` calls on one
session, and the recurrent state lives in each call. One per process is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vigil.analysis.media import AUDIO_RATE, decode_audio

__all__ = [
    "CONTEXT_SAMPLES",
    "WINDOW_SAMPLES",
    "SpeechDetector",
    "SpeechResult",
    "SpeechSpan",
    "VadParameters",
    "speech_spans",
]

WINDOW_SAMPLES = 512
CONTEXT_SAMPLES = 64
_STATE_SHAPE = (2, 1, 128)
_LSTM_SHAPE = (1, 1, 128)
#: Windows per call of the sequence model (512 windows = 16.4 s: a 15 s chunk in one call).
_SEQUENCE_BLOCK = 512

STREAMING_MODEL = "silero_vad.onnx"
SEQUENCE_MODEL = "silero_vad_16k_sequence.onnx"


def model_path(name: str = SEQUENCE_MODEL) -> Path:
    """A vendored Silero VAD model inside the installed package."""
    return Path(str(resources.files("vigil.analysis") / "models" / name))


@dataclass(frozen=True)
class VadParameters:
    """Silero's own defaults (``get_speech_timestamps``)."""

    threshold: float = 0.5
    #: Once in speech, it ends only below this (Silero: threshold - 0.15).
    neg_threshold: float = 0.35
    min_speech_seconds: float = 0.25
    min_silence_seconds: float = 0.1
    pad_seconds: float = 0.03


@dataclass(frozen=True)
class SpeechSpan:
    start: float
    end: float


@dataclass(frozen=True)
class SpeechResult:
    spans: list[SpeechSpan]
    #: Seconds of speech (after merging and padding) over the chunk's duration.
    speech_ratio: float
    duration: float

    @property
    def has_speech(self) -> bool:
        return bool(self.spans)


class SpeechDetector:
    """Silero VAD over 16 kHz mono audio; ``streaming=True`` runs the window-by-window model."""

    def __init__(self, *, streaming: bool = False, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the model has unused initialisers ort warns about
        self.streaming = streaming
        path = model_path(STREAMING_MODEL if streaming else SEQUENCE_MODEL)
        self._session: Any = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(AUDIO_RATE, dtype=np.int64)

    def probabilities(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """One speech probability per 512-sample window of 16 kHz mono audio (the last window
        zero-padded)."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        windows = -(-samples.size // WINDOW_SAMPLES)
        padded = np.zeros(windows * WINDOW_SAMPLES, dtype=np.float32)
        padded[: samples.size] = samples
        if self.streaming:
            return self._streaming(padded, windows)
        return self._sequence(padded, windows)

    def _sequence(self, padded: NDArray[np.float32], windows: int) -> NDArray[np.float32]:
        frames = padded.reshape(windows, WINDOW_SAMPLES)
        rows = np.zeros((windows, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        rows[:, CONTEXT_SAMPLES:] = frames
        rows[1:, :CONTEXT_SAMPLES] = frames[:-1, -CONTEXT_SAMPLES:]
        hidden = np.zeros(_LSTM_SHAPE, dtype=np.float32)
        cell = np.zeros(_LSTM_SHAPE, dtype=np.float32)
        parts = []
        for first in range(0, windows, _SEQUENCE_BLOCK):
            block = rows[first : first + _SEQUENCE_BLOCK]
            values, hidden, cell = self._session.run(
                ["speech_probs", "hn", "cn"], {"input": block, "h": hidden, "c": cell}
            )
            parts.append(np.asarray(values, dtype=np.float32).reshape(-1))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _streaming(self, padded: NDArray[np.float32], windows: int) -> NDArray[np.float32]:
        state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        buffer = np.zeros((1, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        probabilities = np.empty(windows, dtype=np.float32)
        run = self._session.run
        for i in range(windows):
            # Context: the previous window's last 64 samples (zeros before the first).
            buffer[0, :CONTEXT_SAMPLES] = buffer[0, -CONTEXT_SAMPLES:]
            buffer[0, CONTEXT_SAMPLES:] = padded[i * WINDOW_SAMPLES : (i + 1) * WINDOW_SAMPLES]
            output, state = run(None, {"input": buffer, "state": state, "sr": self._rate})
            probabilities[i] = output[0, 0]
        return probabilities

    def detect(
        self, samples: NDArray[np.float32], parameters: VadParameters | None = None
    ) -> SpeechResult:
        """Speech spans in 16 kHz mono float32 samples."""
        duration = samples.size / AUDIO_RATE
        spans = speech_spans(self.probabilities(samples), duration, parameters or VadParameters())
        spoken = sum(span.end - span.start for span in spans)
        return SpeechResult(spans, spoken / duration if duration else 0.0, duration)

    def analyze(self, data: bytes, parameters: VadParameters | None = None) -> SpeechResult:
        """Decode an audio chunk (WebM/Opus or anything FFmpeg reads) and find its speech.

        Raises ``media.UndecodableMedia`` for bytes that hold no decodable audio.
        """
        return self.detect(decode_audio(data), parameters)


def speech_spans(
    probabilities: NDArray[np.float32], duration: float, parameters: VadParameters
) -> list[SpeechSpan]:
    """Per-window probabilities to speech spans in seconds.

    Speech starts at a window at or over ``threshold`` and ends after ``min_silence_seconds``
    below ``neg_threshold``; spans shorter than ``min_speech_seconds`` are dropped, the rest
    padded by ``pad_seconds`` each side (clipped to the chunk and to their neighbours).
    """
    window = WINDOW_SAMPLES / AUDIO_RATE
    raw: list[tuple[float, float]] = []
    start: float | None = None
    silence_since: float | None = None
    for i, probability in enumerate(probabilities):
        now = i * window
        if probability >= parameters.threshold:
            silence_since = None
            if start is None:
                start = now
        elif start is not None and probability < parameters.neg_threshold:
            if silence_since is None:
                silence_since = now
            if now + window - silence_since >= parameters.min_silence_seconds:
                raw.append((start, silence_since))
                start, silence_since = None, None
    if start is not None:
        raw.append((start, duration if silence_since is None else silence_since))

    kept = [(s, e) for s, e in raw if e - s >= parameters.min_speech_seconds]
    spans: list[SpeechSpan] = []
    for index, (s, e) in enumerate(kept):
        lower = spans[-1].end if spans else 0.0
        upper = kept[index + 1][0] if index + 1 < len(kept) else duration
        padded_start = max(lower, s - parameters.pad_seconds, 0.0)
        padded_end = min(upper, e + parameters.pad_seconds, duration)
        if spans and padded_start <= spans[-1].end:
            spans[-1] = SpeechSpan(spans[-1].start, padded_end)
        else:
            spans.append(SpeechSpan(padded_start, padded_end))
    return spans
