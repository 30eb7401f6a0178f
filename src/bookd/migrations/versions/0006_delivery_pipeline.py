"""webhook delivery pipeline: per-trigger concurrency, the circuit breaker, final attempts, due
deliveries by trigger

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.add_column(
        "triggers",
        sa.Column("concurrency", sa.Integer(), server_default=sa.text("8"), nullable=False),
    )
    op.add_column(
        "triggers",
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("triggers", sa.Column("failing_since", sa.DateTime(timezone=True)))
    op.add_column("triggers", sa.Column("retry_at", sa.DateTime(timezone=True)))
    op.add_column(
        "deliveries", sa.Column("final", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.drop_index(
        "ix_deliveries_due",
        table_name="deliveries",
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_deliveries_trigger_id_due",
        "deliveries",
        ["trigger_id", "next_attempt_at"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deliveries_trigger_id_due",
        table_name="deliveries",
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_column("deliveries", "final")
    for column in ("retry_at", "failing_since", "failures", "concurrency"):
        op.drop_column("triggers", column)
