"""availability settings, calendar feed tokens, bookings by service and start

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_availability",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("weekly_hours", sa.Text(), nullable=True),
        sa.Column("date_overrides", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("buffer_before", sa.Integer(), nullable=False),
        sa.Column("buffer_after", sa.Integer(), nullable=False),
        sa.Column("min_notice", sa.Integer(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=True),
        sa.Column("slot_interval", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["booking_services.id"],
            name=op.f("fk_service_availability_service_id_booking_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_service_availability")),
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_calendar_feeds_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    op.create_index("ix_calendar_feeds_workspace_id", "calendar_feeds", ["workspace_id"])
    # The slots and the capacity check read a service's bookings by start time; the composite
    # index also serves every look-up by service alone, so it replaces the single-column one.
    op.create_index("ix_bookings_service_id_start_time", "bookings", ["service_id", "start_time"])
    op.drop_index("ix_bookings_service_id", table_name="bookings")


def downgrade() -> None:
    op.create_index("ix_bookings_service_id", "bookings", ["service_id"])
    op.drop_index("ix_bookings_service_id_start_time", table_name="bookings")
    op.drop_index("ix_calendar_feeds_workspace_id", table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
    op.drop_table("service_availability")
