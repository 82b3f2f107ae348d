"""Alembic environment. The program runs migrations itself (storage/database.py), passing a connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from infusion_app.storage.models import load_all_models

target_metadata = load_all_models().metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        # `alembic` run by hand with -x url=... (developers generating a revision).
        url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
        engine = create_engine(url)
        with engine.begin() as own:
            context.configure(connection=own, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
