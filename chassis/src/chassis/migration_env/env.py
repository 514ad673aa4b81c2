"""Alembic's environment, shared by every service's store: the connection, the version table
and the options all come from `chassis.migrations` (no alembic.ini)."""

from alembic import context

from chassis.migrations import environment_options

context.configure(**environment_options(context.config))
with context.begin_transaction():
    context.run_migrations()
