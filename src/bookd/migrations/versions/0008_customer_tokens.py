"""customer tokens: credentials that open one bot user's bookings; booking services' customer
policy (may customers cancel, reschedule, and how close to the start)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = ("customer_can_cancel", "customer_can_reschedule")


def upgrade() -> None:
    op.create_table(
        "customer_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("bot_user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_customer_tokens_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["bot_user_id"],
            ["bot_users.id"],
            name=op.f("fk_customer_tokens_bot_user_id_bot_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tokens")),
        # A request's token is found by this unique index alone.
        sa.UniqueConstraint("token_hash", name=op.f("uq_customer_tokens_token_hash")),
    )
    op.create_index("ix_customer_tokens_workspace_id_id", "customer_tokens", ["workspace_id", "id"])
    op.create_index("ix_customer_tokens_bot_user_id", "customer_tokens", ["bot_user_id"])
    # Every service, existing ones too, starts by letting customers cancel and reschedule, with no
    # cutoff.
    for column in POLICY:
        op.add_column(
            "booking_services",
            sa.Column(column, sa.Boolean(), server_default=sa.true(), nullable=False),
        )
    op.add_column(
        "booking_services", sa.Column("customer_cutoff_minutes", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("booking_services") as batch:
        for column in (*POLICY, "customer_cutoff_minutes"):
            batch.drop_column(column)
    op.drop_index("ix_customer_tokens_bot_user_id", table_name="customer_tokens")
    op.drop_index("ix_customer_tokens_workspace_id_id", table_name="customer_tokens")
    op.drop_table("customer_tokens")
