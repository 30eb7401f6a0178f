"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# High-volume tables: 64-bit keys on PostgreSQL; SQLite's rowid is 64-bit already.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_api_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index("ix_api_keys_workspace_id", "api_keys", ["workspace_id"], unique=False)

    op.create_table(
        "booking_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("service_uid", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_duration", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_booking_services_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_services")),
    )
    op.create_index(
        "uq_booking_services_workspace_id_service_uid",
        "booking_services",
        ["workspace_id", "service_uid"],
        unique=True,
    )

    op.create_table(
        "bot_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("ns", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("followups_opt_out", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_bot_users_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_users")),
    )
    op.create_index(
        "uq_bot_users_workspace_id_ns", "bot_users", ["workspace_id", "ns"], unique=True
    )

    op.create_table(
        "events",
        sa.Column("seq", BIG_ID, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_events_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_booking_id", "events", ["booking_id"], unique=False)
    op.create_index("ix_events_workspace_id_seq", "events", ["workspace_id", "seq"], unique=False)
    op.create_index(
        "ix_events_workspace_id_type_seq", "events", ["workspace_id", "type", "seq"], unique=False
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_idempotency_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("bot_user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("reschedule_reason", sa.Text(), nullable=True),
        sa.Column("reschedule_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_user_id"], ["bot_users.id"], name=op.f("fk_bookings_bot_user_id_bot_users")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["booking_services.id"],
            name=op.f("fk_bookings_service_id_booking_services"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_bookings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bookings_bot_user_id", "bookings", ["bot_user_id"], unique=False)
    op.create_index(
        "ix_bookings_due_end",
        "bookings",
        ["end_time"],
        unique=False,
        postgresql_where=sa.text("status = 'in_progress'"),
        sqlite_where=sa.text("status = 'in_progress'"),
    )
    op.create_index(
        "ix_bookings_due_start",
        "bookings",
        ["start_time"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'confirmed')"),
        sqlite_where=sa.text("status IN ('pending', 'confirmed')"),
    )
    op.create_index("ix_bookings_service_id", "bookings", ["service_id"], unique=False)
    op.create_index("ix_bookings_workspace_id_id", "bookings", ["workspace_id", "id"], unique=False)
    op.create_index(
        "ix_bookings_workspace_id_start_time",
        "bookings",
        ["workspace_id", "start_time"],
        unique=False,
    )

    op.create_table(
        "service_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["booking_services.id"],
            name=op.f("fk_service_templates_service_id_booking_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_templates")),
    )
    op.create_index(
        "uq_service_templates_service_id_kind_sequence",
        "service_templates",
        ["service_id", "kind", "sequence"],
        unique=True,
    )

    op.create_table(
        "booking_logs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("old_status", sa.String(length=16), nullable=True),
        sa.Column("new_status", sa.String(length=16), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_logs_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_logs")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_booking_logs_booking_id_id", "booking_logs", ["booking_id", "id"], unique=False
    )

    op.create_table(
        "booking_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skip_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_messages_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["service_templates.id"],
            name=op.f("fk_booking_messages_template_id_service_templates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_messages")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_booking_messages_booking_id_kind_sequence",
        "booking_messages",
        ["booking_id", "kind", "sequence"],
        unique=False,
    )
    op.create_index(
        "ix_booking_messages_due",
        "booking_messages",
        ["scheduled_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_booking_messages_template_id", "booking_messages", ["template_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_booking_messages_template_id", table_name="booking_messages")
    op.drop_index(
        "ix_booking_messages_due",
        table_name="booking_messages",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_booking_messages_booking_id_kind_sequence", table_name="booking_messages")

    op.drop_table("booking_messages")
    op.drop_index("ix_booking_logs_booking_id_id", table_name="booking_logs")

    op.drop_table("booking_logs")
    op.drop_index("uq_service_templates_service_id_kind_sequence", table_name="service_templates")

    op.drop_table("service_templates")
    op.drop_index("ix_bookings_workspace_id_start_time", table_name="bookings")
    op.drop_index("ix_bookings_workspace_id_id", table_name="bookings")
    op.drop_index("ix_bookings_service_id", table_name="bookings")
    op.drop_index(
        "ix_bookings_due_start",
        table_name="bookings",
        postgresql_where=sa.text("status IN ('pending', 'confirmed')"),
        sqlite_where=sa.text("status IN ('pending', 'confirmed')"),
    )
    op.drop_index(
        "ix_bookings_due_end",
        table_name="bookings",
        postgresql_where=sa.text("status = 'in_progress'"),
        sqlite_where=sa.text("status = 'in_progress'"),
    )
    op.drop_index("ix_bookings_bot_user_id", table_name="bookings")

    op.drop_table("bookings")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_events_workspace_id_type_seq", table_name="events")
    op.drop_index("ix_events_workspace_id_seq", table_name="events")
    op.drop_index("ix_events_booking_id", table_name="events")

    op.drop_table("events")
    op.drop_index("uq_bot_users_workspace_id_ns", table_name="bot_users")

    op.drop_table("bot_users")
    op.drop_index("uq_booking_services_workspace_id_service_uid", table_name="booking_services")

    op.drop_table("booking_services")
    op.drop_index("ix_api_keys_workspace_id", table_name="api_keys")

    op.drop_table("api_keys")
    op.drop_table("workspaces")
