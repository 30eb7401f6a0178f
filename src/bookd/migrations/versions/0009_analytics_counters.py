"""analytics counters: per workspace, service and local day (bookings by status, ratings, lead
times, reminders and follow-ups, reasons) and per workspace and day (deliveries); and the index a
trigger's last failure is read from

The counters start empty: `bookd analytics rebuild` fills them from an existing database.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "confirmed", "in_progress", "completed", "cancelled", "no_show", "inactive")
BOOKING_COUNTS = (
    "created",
    *STATUSES,
    "reschedules",
    "rated",
    "rating_sum",
    *(f"rating_{r}" for r in range(6)),
    *(f"lead_{i}" for i in range(12)),
    "reminded_completed",
    "reminded_no_show",
    "reminders_sent",
    "reminders_skipped",
    "followups_sent",
    "followups_skipped",
)
DELIVERY_COUNTS = ("succeeded", "failed", *(f"latency_{i}" for i in range(10)))
FAILING = "status = 'failed' OR (status = 'pending' AND attempts > 0)"


def _counts(names: Sequence[str]) -> list[sa.Column]:
    # Integers: a day's count in one shard stays far below 2**31, and their sums (bigint on
    # PostgreSQL) are read without decimals.
    return [sa.Column(n, sa.Integer(), server_default=sa.text("0"), nullable=False) for n in names]


def upgrade() -> None:
    op.create_table(
        "booking_days",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        *_counts(BOOKING_COUNTS),
        sa.PrimaryKeyConstraint(
            "workspace_id", "day", "service_id", "shard", name=op.f("pk_booking_days")
        ),
    )
    op.create_table(
        "booking_reasons",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "day", "service_id", "kind", "reason_key",
            name=op.f("pk_booking_reasons"),
        ),
    )  # fmt: skip
    op.create_table(
        "delivery_days",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        *_counts(DELIVERY_COUNTS),
        sa.PrimaryKeyConstraint("workspace_id", "day", "shard", name=op.f("pk_delivery_days")),
    )
    op.create_index(
        "ix_deliveries_trigger_id_failing",
        "deliveries",
        ["trigger_id", "id"],
        postgresql_where=sa.text(FAILING),
        sqlite_where=sa.text(FAILING),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_trigger_id_failing", table_name="deliveries")
    op.drop_table("delivery_days")
    op.drop_table("booking_reasons")
    op.drop_table("booking_days")
