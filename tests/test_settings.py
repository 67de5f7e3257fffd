"""Settings come from VIGIL_* variables; the secret key is never a default in code."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vigil.settings import Settings, async_database_url


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).signing_key
    second = Settings(data_dir=tmp_path).signing_key
    assert first == second
    assert len(first) >= 48
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "other").signing_key != first


def test_configured_secret_key_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SECRET_KEY", "from-the-environment")
    assert Settings(data_dir=tmp_path).signing_key == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_lists_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.5")
    monkeypatch.setenv("VIGIL_CORS_ORIGINS", "https://exam.uni.edu,https://proctor.uni.edu")
    settings = Settings()
    assert settings.is_trusted_proxy("10.1.2.3")
    assert settings.is_trusted_proxy("192.168.1.5")
    assert not settings.is_trusted_proxy("192.168.1.6")
    assert not settings.is_trusted_proxy("testclient")
    assert not settings.is_trusted_proxy(None)
    assert settings.cors_origins == ["https://exam.uni.edu", "https://proctor.uni.edu"]


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings().trusted_proxies == []
    assert not Settings().is_trusted_proxy("127.0.0.1")


def test_bad_proxy_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_TRUSTED_PROXIES", "not-an-address")
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert async_database_url(given) == expected


def test_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'vigil.db'}"
    assert settings.resolved_blob_url == f"file://{tmp_path / 'blobs'}"


def test_an_empty_kept_key_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        _ = Settings(data_dir=tmp_path).signing_key


def test_a_short_configured_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="secret_key"):
        Settings()
