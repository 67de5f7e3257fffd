"""Optional speech-to-text: a plug-in over faster-whisper, off unless a local model is set.

Vigil does not depend on faster-whisper and never downloads a model. To turn transcription
on, install ``faster-whisper`` into Vigil's environment and point
``VIGIL_TRANSCRIBE_MODEL_PATH`` at a CTranslate2 Whisper model directory on disk (docs/
analysis.md). ``transcriber_from_settings`` then returns a ``Transcriber``; otherwise None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from vigil.settings import Settings

__all__ = [
    "Segment",
    "TranscriberUnavailable",
    "Transcriber",
    "WhisperTranscriber",
    "transcriber_from_settings",
]


class TranscriberUnavailable(RuntimeError):
    """Transcription is configured but cannot run (package or model missing)."""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


class Transcriber(Protocol):
    def transcribe(self, samples: NDArray[np.float32]) -> list[Segment]:
        """Text spoken in 16 kHz mono float32 samples, with times in seconds."""
        ...


class WhisperTranscriber:
    """faster-whisper on the CPU (int8). Not thread-safe: one per worker thread."""

    def __init__(self, model_path: Path, *, language: str | None = None) -> None:
        if not model_path.is_dir():
            raise TranscriberUnavailable(
                f"VIGIL_TRANSCRIBE_MODEL_PATH is not a directory: {model_path}"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise TranscriberUnavailable(
                "VIGIL_TRANSCRIBE_MODEL_PATH is set but the faster-whisper package is not "
                "installed: pip install faster-whisper (see docs/analysis.md), or unset it"
            ) from exc
        self._model: Any = WhisperModel(
            str(model_path), device="cpu", compute_type="int8", local_files_only=True
        )
        self._language = language

    def transcribe(self, samples: NDArray[np.float32]) -> list[Segment]:
        segments, _info = self._model.transcribe(
            np.ascontiguousarray(samples, dtype=np.float32), language=self._language
        )
        return [Segment(float(s.start), float(s.end), str(s.text).strip()) for s in segments]


def transcriber_from_settings(settings: Settings) -> Transcriber | None:
    """None when transcription is off (the default); raises ``TranscriberUnavailable`` when
    it is configured but cannot run."""
    if settings.transcribe_model_path is None:
        return None
    return WhisperTranscriber(settings.transcribe_model_path)
