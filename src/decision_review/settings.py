"""One `Settings` object read from the environment (prefix ``DR_``, plus ``DATABASE_URL``).

Why one place: the CLI, the API and the tests all need the same answers to "where is the
database, the model registry, the policies"; reading the environment anywhere else makes
those answers drift. Logic receives a `Settings` (or the values it needs) as an argument.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DR_", extra="ignore")

    home: Path = Field(
        default=DEFAULT_HOME, description="Working folder for the embedded database and exports."
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "DR_DATABASE_URL"),
        description="SQLAlchemy URL; unset means the embedded SQLite file under `home`.",
    )
    models_dir: Path = Field(default=Path("models"), description="Root of the model registry.")
    policies_dir: Path = Field(default=Path("policies"), description="Folder of policy YAML files.")
    explain_reference: Literal["all_applicants", "near_cutoff"] = Field(
        default="all_applicants",
        description="What SHAP contributions are measured against (see docs/models.md).",
    )
    max_reasons: int = Field(default=4, ge=1, le=10, description="Reason codes per explained case.")
    lease_minutes: int = Field(default=30, ge=1, description="How long a claim on a review case lasts.")
    override_window_hours: int = Field(
        default=72, ge=0, description="How long after an auto-decision it may be overridden."
    )
    max_body_bytes: int = Field(default=20 * 1024 * 1024, description="Largest request body the API accepts.")
    session_secret: str | None = Field(
        default=None,
        description="Key that signs web session cookies; generated and kept under `home` when unset.",
    )
    lender_name: str = Field(
        default="[Lender name]", description="Name printed on adverse-action notices (web pages)."
    )
    # --- API service (docs/api.md) ---
    max_batch_cases: int = Field(
        default=100_000, ge=1, description="Most cases one batch submission may hold."
    )
    batch_write_chunk: int = Field(
        default=5_000,
        ge=1,
        description="Cases stored per transaction in a batch (each chunk all or nothing).",
    )
    submit_window_ms: float = Field(
        default=2.0,
        ge=0,
        description="How long a single-case submission waits to share one engine call and one transaction "
        "with others arriving at the same moment (0: never wait).",
    )
    submit_group_max: int = Field(default=64, ge=1, description="Most single cases decided together.")
    db_pool_size: int = Field(default=8, ge=1, description="Database connections kept open per API worker.")
    auth_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long an API worker trusts a token it has just looked up (0: look up on every call). "
        "A token revoked elsewhere (another worker, the CLI) is refused by this worker at most this late.",
    )
    auth_event_interval_seconds: int = Field(
        default=60,
        ge=0,
        description="Identical failed logins or forbidden calls are audited once per interval per worker "
        "(with the count of repeats), so a flood cannot flood the log.",
    )
    alert_check_seconds: float = Field(
        default=30.0, gt=0, description="How often the server checks alert conditions."
    )
    alert_repeat_minutes: int = Field(
        default=60, ge=1, description="An alert still true is sent again after this long."
    )
    webhook_attempts: int = Field(
        default=4, ge=1, le=10, description="Tries per webhook delivery (the wait doubles each time)."
    )
    webhook_backoff_seconds: float = Field(default=1.0, ge=0, description="Wait before the second try.")
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, description="Timeout of one webhook request.")

    @property
    def sqlite_path(self) -> Path:
        return self.home / "decision-review.db"

    @property
    def exports_dir(self) -> Path:
        """Where API exports of the audit log are written (one folder each, kept)."""
        return self.home / "exports"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own `Settings(...)` instead."""
    return Settings()
