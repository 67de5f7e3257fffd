"""Speech in 15 s WebM/Opus chunks: espeak-ng speech, silence and a tone, through PyAV and
Silero VAD on onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support import analysis_assets as assets
from tests.support.required import skip_or_fail
from vigil.analysis.audio import SpeechDetector, VadParameters, speech_spans
from vigil.analysis.media import AUDIO_RATE, UndecodableMedia, decode_audio
from vigil.analysis.transcribe import TranscriberUnavailable, transcriber_from_settings
from vigil.settings import Settings


@pytest.fixture(scope="module")
def detector() -> SpeechDetector:
    return SpeechDetector()


@pytest.fixture(scope="module")
def speech() -> bytes:
    if not assets.espeak_available():
        skip_or_fail("espeak-ng is not installed (apt-get install espeak-ng)")
    return assets.speech_chunk()


def test_decode_gives_16k_mono_float(speech: bytes) -> None:
    samples = decode_audio(speech)
    assert samples.dtype == np.float32
    assert samples.size == pytest.approx(15 * AUDIO_RATE, abs=AUDIO_RATE // 50)
    assert 0.05 < np.abs(samples).max() <= 1.0


def test_speech_is_found_where_it_was_spoken(detector: SpeechDetector, speech: bytes) -> None:
    result = detector.analyze(speech)
    spoken_from = assets.SPEECH_OFFSET_SECONDS
    spoken_to = spoken_from + assets.speech_seconds()
    assert result.has_speech
    assert result.duration == pytest.approx(15.0, abs=0.05)
    assert result.spans[0].start == pytest.approx(spoken_from, abs=0.3)
    assert result.spans[-1].end == pytest.approx(spoken_to, abs=0.5)
    assert all(spoken_from - 0.3 <= s.start < s.end <= spoken_to + 0.5 for s in result.spans)
    # Most of the sentence is speech; the chunk as a whole is under half speech.
    expected_ratio = (spoken_to - spoken_from) / 15.0
    assert 0.6 * expected_ratio < result.speech_ratio <= expected_ratio + 0.05


@pytest.mark.parametrize("chunk", [assets.silent_chunk, assets.tone_chunk], ids=["silence", "tone"])
def test_silence_and_a_tone_are_not_speech(detector: SpeechDetector, chunk: object) -> None:
    result = detector.analyze(chunk())  # type: ignore[operator]
    assert result.spans == []
    assert result.speech_ratio == 0.0
    assert result.duration == pytest.approx(15.0, abs=0.05)


def test_streaming_and_sequence_models_agree(speech: bytes) -> None:
    samples = decode_audio(speech)
    streaming = SpeechDetector(streaming=True).probabilities(samples)
    sequence = SpeechDetector().probabilities(samples)
    assert streaming.shape == sequence.shape == (-(-samples.size // 512),)
    assert np.abs(streaming - sequence).max() < 1e-4
    assert streaming.max() > 0.9  # the speech is there for both


def test_undecodable_audio_is_refused(detector: SpeechDetector) -> None:
    with pytest.raises(UndecodableMedia, match="no audio bytes"):
        detector.analyze(b"")
    with pytest.raises(UndecodableMedia, match="audio"):
        detector.analyze(b"\x1a\x45\xdf\xa3 not really webm")
    with pytest.raises(UndecodableMedia, match="no audio stream"):
        detector.analyze(assets.jpeg(assets.coffee()))


def test_an_empty_decode_has_no_speech(detector: SpeechDetector) -> None:
    result = detector.detect(np.zeros(0, dtype=np.float32))
    assert result.spans == []
    assert result.speech_ratio == 0.0
    assert result.duration == 0.0


def test_spans_follow_silero_hysteresis() -> None:
    window = 512 / AUDIO_RATE
    params = VadParameters(pad_seconds=0.0)
    # 10 windows of speech, a dip to 0.4 (above neg_threshold: still speech), then silence.
    probs = np.array([0.0] * 5 + [0.9] * 10 + [0.4] * 2 + [0.9] * 5 + [0.0] * 20, np.float32)
    spans = speech_spans(probs, probs.size * window, params)
    assert len(spans) == 1
    assert spans[0].start == pytest.approx(5 * window)
    assert spans[0].end == pytest.approx(22 * window)
    # A blip shorter than min_speech_seconds is dropped.
    blip = np.array([0.0] * 5 + [0.9] * 3 + [0.0] * 20, np.float32)
    assert speech_spans(blip, blip.size * window, params) == []


# --------------------------------------------------------------------------- transcription


def test_transcription_is_off_by_default() -> None:
    assert Settings().transcribe_model_path is None
    assert transcriber_from_settings(Settings()) is None


def test_transcription_enabled_without_the_package_says_so(tmp_path: Path) -> None:
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only where someone installed it
        pytest.skip("faster-whisper is installed here")
    settings = Settings(transcribe_model_path=tmp_path)
    with pytest.raises(TranscriberUnavailable, match="faster-whisper package is not installed"):
        transcriber_from_settings(settings)


def test_transcription_enabled_with_a_missing_model_says_so(tmp_path: Path) -> None:
    settings = Settings(transcribe_model_path=tmp_path / "nowhere")
    with pytest.raises(TranscriberUnavailable, match="not a directory"):
        transcriber_from_settings(settings)
