"""Every knob Vigil has, one `VIGIL_*` environment variable each (docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MiB = 1024 * 1024
SECRET_KEY_FILE = "secret_key"


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Path("./var")
    database_url: str | None = None
    blob_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    secret_key: SecretStr | None = None
    token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    agent_token_ttl_seconds: int = Field(default=12 * 3600, gt=0)
    # How long a process may reuse a bearer token's user before reading it again (0: never).
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    forward_auth_autocreate: bool = False
    forward_auth_group_roles: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"admins": "admin", "teachers": "teacher"}
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000"]
    )

    max_snapshot_bytes: int = Field(default=5 * MiB, gt=0)
    max_audio_bytes: int = Field(default=10 * MiB, gt=0)
    max_video_bytes: int = Field(default=64 * MiB, gt=0)
    max_telemetry_bytes: int = Field(default=16 * MiB, gt=0)
    max_json_bytes: int = Field(default=1 * MiB, gt=0)

    attempt_sweep_seconds: float = Field(default=15, gt=0)

    looking_away_yaw_degrees: float = Field(default=30, gt=0, lt=90)
    looking_away_pitch_degrees: float = Field(default=25, gt=0, lt=90)
    looking_away_min_frames: int = Field(default=3, ge=1)
    looking_away_min_seconds: float = Field(default=2.0, ge=0)
    looking_away_max_gap_seconds: float = Field(default=30, gt=0)
    transcribe_model_path: Path | None = None

    queue_url: str | None = None
    analysis_workers: int = Field(default=1, ge=0, le=64)
    analysis_max_retries: int = Field(default=3, ge=0, le=100)
    analysis_retry_seconds: float = Field(default=10, gt=0)

    # ExamManager's VM jobs (docs/exammanager.md).
    exammanager_vm_poll_seconds: float = Field(default=30, gt=0)
    exammanager_vm_loading_poll_seconds: float = Field(default=2, gt=0)
    exammanager_vm_start_timeout_seconds: float = Field(default=600, gt=0)
    exammanager_check_timeout_seconds: float = Field(default=300, gt=0)

    # Practical-task VMs (docs/labs.md).
    labs_driver: Literal["none", "libvirt", "script"] = "none"
    labs_timeout_seconds: float = Field(default=60, gt=0)
    labs_script: Path | None = None
    libvirt_uri: str = "qemu:///system"
    libvirt_image_dir: Path | None = None
    libvirt_overlay_dir: Path | None = None
    libvirt_network: str = "default"
    libvirt_memory_mib: int = Field(default=2048, gt=0)
    libvirt_vcpus: int = Field(default=2, gt=0)
    libvirt_vnc_listen: str = "127.0.0.1"
    libvirt_vnc_host: str | None = None
    libvirt_domain_type: str = "kvm"

    sqlite_synchronous: str = "FULL"
    log_level: str = "INFO"

    @field_validator("secret_key")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        return [ipaddress.ip_network(v, strict=False) for v in _split_commas(value)]

    @field_validator("forward_auth_group_roles", mode="before")
    @classmethod
    def _parse_group_roles(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs = [item.split("=", 1) for item in _split_commas(value)]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("write it as group=role,group=role")
        return {group.strip(): role.strip() for group, role in pairs}

    @field_validator("forward_auth_group_roles")
    @classmethod
    def _check_group_roles(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = {role for role in value.values()} - {"admin", "teacher", "student"}
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}: use admin, teacher or student")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("queue_url")
    @classmethod
    def _check_queue_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must be an amqp:// or amqps:// URL (RabbitMQ), or unset")
        return value or None

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        if value.upper() not in {"FULL", "EXTRA", "NORMAL"}:
            raise ValueError("must be FULL, EXTRA or NORMAL")
        return value.upper()

    @model_validator(mode="after")
    def _check_labs(self) -> Settings:
        if self.labs_driver == "script" and self.labs_script is None:
            raise ValueError("VIGIL_LABS_DRIVER=script needs VIGIL_LABS_SCRIPT (the program path)")
        if self.labs_driver == "libvirt" and self.libvirt_image_dir is None:
            raise ValueError(
                "VIGIL_LABS_DRIVER=libvirt needs VIGIL_LIBVIRT_IMAGE_DIR (the base images' folder)"
            )
        return self

    @property
    def resolved_libvirt_overlay_dir(self) -> Path:
        return self.libvirt_overlay_dir or self.data_dir / "labs" / "overlays"

    @property
    def resolved_libvirt_vnc_host(self) -> str:
        """The VNC host clients are told: configured, else the listen address if it is one."""
        if self.libvirt_vnc_host:
            return self.libvirt_vnc_host
        if self.libvirt_vnc_listen in {"0.0.0.0", "::"}:
            return "127.0.0.1"
        return self.libvirt_vnc_listen

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"
        return async_database_url(url)

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    @cached_property
    def signing_key(self) -> str:
        """The JWT/HMAC key: configured, or generated once and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.data_dir / SECRET_KEY_FILE)

    def is_trusted_proxy(self, host: str | None) -> bool:
        if not host or not self.trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


def async_database_url(url: str) -> str:
    """Normalise a database URL to the async driver Vigil uses for it."""
    for prefix, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


def load_or_create_secret(path: Path) -> str:
    """Read the kept key, or create it atomically: a concurrent reader sees all or nothing."""
    if path.exists():
        key = path.read_text().strip()
        if not key:
            raise ValueError(f"{path} is empty: delete it to generate a new key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process kept its key first: use that one
    except FileExistsError:
        return path.read_text().strip()
    finally:
        tmp.unlink()
    return key
