"""Configuration: environment variables with the INTAKE_ prefix (and a .env file), typed and validated."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    visibility_timeout_s: int = 120
    max_receive_count: int = 5
    shutdown_grace_s: float = 30.0
    # input limits
    max_file_bytes: int = 100 * 1024 * 1024
    max_image_pixels: int = 120_000_000
    max_pages: int = 50
    pdf_dpi: int = 300
    keep_freed_memory_mb: int = Field(
        360,
        description="A worker keeps the memory one file freed for the next (no page faults to touch it again) "
        "until its resident size passes this; past it, freed memory goes back to the OS after each file. "
        "0: after every file",
    )
    # OCR
    tesseract_lang: str = "vie"
    tesseract_cmd: str | None = None
    # matching
    auto_accept_threshold: float = 0.95
    review_threshold: float = 0.5
    max_proposals: int = 5
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
    audit_sample_rate: float = 0.05
    # operations
    log_level: str = "INFO"
    log_json: bool = False
    metrics_port: int | None = None

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
