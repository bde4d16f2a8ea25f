"""submission findings: what the checks between a submission's documents find is stored beside the documents,
replaced at each re-match, instead of being written into the documents' payloads (which compounded: every
re-match halved a contradicted confidence again and appended its warning again)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Documents stored before this revision keep what earlier re-matches wrote into them; re-matching them now
neither adds to it nor removes it. Re-reading their files (a `reprocess` queue message) stores them
clean.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "submission_findings",
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )


def downgrade() -> None:
    op.drop_table("submission_findings")
