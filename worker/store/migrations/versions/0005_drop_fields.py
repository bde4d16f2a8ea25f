"""drop the write-only `fields` table: every field is in documents.payload (the full models.Document), which
is what the review app, the re-match and the exports read; nothing ever read `fields`

Revision ID: 0005
Revises: 0002
Create Date: 2027-01-10

Chained after 0002 on its branch; the branches' 0003 and 0004 are ordered before it when they are merged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_fields_document_id"), table_name="fields")
    op.drop_table("fields")


def downgrade() -> None:
    # the table comes back empty: its rows were copies of documents.payload
    op.create_table(
        "fields",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("owner_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "owner_index", "name", name="uq_field"),
    )
    op.create_index(op.f("ix_fields_document_id"), "fields", ["document_id"], unique=False)
