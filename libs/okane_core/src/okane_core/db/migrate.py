"""Run the Alembic migrations in ``migrations/`` programmatically."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

from okane_core.db.engine import normalize_url


def migrations_dir() -> Path:
    """``OKANE_MIGRATIONS_DIR``, else the ``migrations/`` folder of the source checkout."""
    configured = os.environ.get("OKANE_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "migrations"
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("cannot find migrations/: set OKANE_MIGRATIONS_DIR")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
