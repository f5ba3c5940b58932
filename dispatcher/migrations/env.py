"""Alembic environment: migrations run on a connection jiaoying hands over.

`dispatcher.store.migrate` opens the (async) engine and runs the upgrade inside
`run_sync`, so the same code serves SQLite and PostgreSQL and no second URL is needed.
"""

from __future__ import annotations

from alembic import context

from dispatcher.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
