"""Alembic environment: ytsync passes its own connection in; no alembic.ini needed."""

from alembic import context

from ytsync.db.engine import compare_type
from ytsync.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=compare_type,
        )
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=compare_type,
    )
    with context.begin_transaction():
        context.run_migrations()
