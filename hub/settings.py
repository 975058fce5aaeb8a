"""The hub's configuration: the one place that reads environment variables.

Every setting is an env var with the ``TLIVE_`` prefix (``TLIVE_DATABASE_URL``,
``TLIVE_MQTT_URL`` ...), or a line in a ``.env`` file in the working directory.
Services receive a :class:`Settings` instance; nothing else calls ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INSECURE_SECRET = "dev-insecure-change-me"


class MqttEndpoint:
    """A parsed ``mqtt://user:pass@host:port`` URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"mqtt_url must start with mqtt:// (got {url!r})")
        if not parts.hostname:
            raise ValueError(f"mqtt_url has no host (got {url!r})")
        self.host: str = parts.hostname
        self.port: int = parts.port or 1883
        self.username: str | None = parts.username
        self.password: str | None = parts.password


class Settings(BaseSettings):
    """All configuration of the hub. Defaults suit a development machine."""

    model_config = SettingsConfigDict(env_prefix="TLIVE_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    secret_key: str = INSECURE_SECRET

    database_url: str = "postgresql://postgres@127.0.0.1:5432/tlive"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_topic_root: str = Field(
        "tlive", pattern=r"^[A-Za-z0-9_-]+$", description="first topic level ('tlive')"
    )

    # ingest
    ingest_client_id: str = "tlive-ingest-1"
    ingest_shared_group: str | None = Field(
        None, description="join $share/<group>/... so several ingest processes split the load"
    )
    ingest_session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    ingest_receive_maximum: int = Field(
        8192, ge=20, le=65535, description="MQTT 5 Receive Maximum: unacked messages in flight"
    )
    ingest_batch_max: int = Field(4000, ge=1, description="messages per database transaction")
    ingest_batch_age_ms: int = Field(250, ge=1, description="flush a partial batch after this")
    ingest_max_payload_bytes: int = Field(65536, ge=256)
    ingest_max_future_s: float = Field(300.0, ge=0, description="accept timestamps this far ahead")
    ingest_rollup_interval_s: float = Field(30.0, gt=0)
    ingest_maintenance_interval_s: float = Field(3600.0, gt=0)
    metrics_port: int = Field(9108, ge=0, le=65535, description="0 disables /metrics")
    metrics_host: str = "127.0.0.1"

    # store
    retention_days: int = Field(90, ge=1)
    partitions_ahead_days: int = Field(3, ge=1)
    compress_after_days: int = Field(7, ge=1)

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, v: str) -> str:
        MqttEndpoint(v)
        return v

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, v: str) -> str:
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"database_url must be a postgresql:// URL (got {v!r})")
        return v

    @model_validator(mode="after")
    def _secure_outside_development(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == INSECURE_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "TLIVE_SECRET_KEY must be set to a random value of 32+ characters in production"
                )
            if MqttEndpoint(self.mqtt_url).username is None:
                raise ValueError("TLIVE_MQTT_URL must carry credentials in production")
        return self

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint(self.mqtt_url)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
