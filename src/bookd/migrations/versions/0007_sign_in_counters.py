"""sign-in rate limit: one counter row per email and per client address instead of a row per
failure, so that a sign-in can lock its counters while it checks the limit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sign_in_counters",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_counters")),
    )
    op.create_index(
        "ix_sign_in_counters_window_start", "sign_in_counters", ["window_start"], unique=False
    )
    # The failures of the old table carry over, each key's window opening at its first failure:
    # an upgrade does not lift a limit someone has reached. (Windows that have ended reset at
    # the key's next sign-in.)
    op.execute(
        "INSERT INTO sign_in_counters (key, window_start, failures) "
        "SELECT key, MIN(failed_at), COUNT(*) FROM sign_in_failures GROUP BY key"
    )
    op.drop_index("ix_sign_in_failures_key_failed_at", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")


def downgrade() -> None:
    # The counters are not turned back into rows of failures: a downgrade starts every key with
    # no failures (the limit's windows last 15 minutes).
    op.create_table(
        "sign_in_failures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(
        "ix_sign_in_failures_key_failed_at",
        "sign_in_failures",
        ["key", "failed_at"],
        unique=False,
    )
    op.drop_index("ix_sign_in_counters_window_start", table_name="sign_in_counters")
    op.drop_table("sign_in_counters")
