"""Configuration: environment variables with the INTAKE_ prefix (and a .env file), typed and validated."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Where embedded-mode state lives (SQLite, inbox, archive)"
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/intake.db. PostgreSQL: postgresql+psycopg://...",
    )
    # intake / queue
    inbox_dir: Path | None = Field(None, description="Local inbox folder; default <data_dir>/inbox")
    bucket: str | None = Field(None, description="S3 bucket with the scans; unset = local inbox")
    key_prefix: str = Field(
        "",
        description="Bucket prefix scans arrive under (e.g. incoming/); the first folder below it is the submission. "
        "Browser uploads are written there too, so the bucket notification sees them",
    )
    queue_url: str | None = Field(None, description="SQS queue URL; unset = local SQLite queue")
    dead_letter_queue_url: str | None = None
    derived_prefix: str = Field("derived/", description="Prefix for normalised pages and review crops")
    visibility_timeout_s: int = Field(120, ge=1, le=43_200)  # SQS allows up to 12 hours
    max_receive_count: int = Field(5, ge=1)
    shutdown_grace_s: float = Field(30.0, ge=0)
    # input limits
    max_file_bytes: int = Field(100 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(120_000_000, gt=0)
    max_pages: int = Field(50, ge=1)
    pdf_dpi: int = Field(300, ge=72, le=1200, description="Raster resolution for PDF pages")
    keep_freed_memory_mb: int = Field(
        360,
        ge=0,
        description="A worker keeps the memory one file freed for the next (no page faults to touch it again) "
        "until its resident size passes this; past it, freed memory goes back to the OS after each file. "
        "0: after every file",
    )
    # OCR
    tesseract_lang: str = "vie"
    tesseract_cmd: str | None = None
    # matching
    auto_accept_threshold: float = Field(0.95, ge=0.0, le=1.0)
    review_threshold: float = Field(0.5, ge=0.0, le=1.0)
    max_proposals: int = Field(5, ge=1)
    match_model: Path | None = Field(
        None,
        description="Matcher model JSON (m/u probabilities, calibration); default <data_dir>/match_model.json "
        "when `intake model refine` has written one, else the model shipped with the package",
    )
    # review web app
    session_secret: str | None = Field(
        None, description="Cookie signing key; generated and stored under data_dir if unset"
    )
    secure_cookies: bool = False
    audit_sample_rate: float = Field(0.05, ge=0.0, le=1.0)
    bootstrap_admin_name: str | None = Field(
        None, description="`intake review serve` creates this admin on start unless a user of that name exists"
    )
    bootstrap_admin_password: SecretStr | None = Field(
        None, description="its first password (from a secret; never logged); change it after the first login"
    )
    # operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = False
    metrics_port: int | None = Field(None, ge=1, le=65_535)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _bands_in_order(self) -> Settings:
        if self.review_threshold > self.auto_accept_threshold:
            raise ValueError("INTAKE_REVIEW_THRESHOLD must not be above INTAKE_AUTO_ACCEPT_THRESHOLD")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'intake.db').as_posix()}"

    @property
    def refined_match_model(self) -> Path:
        """Where `intake model refine` writes, and where the matcher looks before the shipped model."""
        return self.match_model or self.data_dir / "match_model.json"

    @property
    def resolved_inbox_dir(self) -> Path:
        return self.inbox_dir or self.data_dir / "inbox"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
