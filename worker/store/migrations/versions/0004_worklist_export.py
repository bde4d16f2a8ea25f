"""review worklist and export cycle: the exceptions worklist and search keys the review app derives per
submission, export batches with the changes already sent, second reviews for quality control, and the case
number and applicant a clerk types on upload

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07

`reject` no longer closes an item (it judges one candidate wrong and the reviewer goes on to the next): an
item closed by a `reject` alone under the old meaning is put back to pending, where the rejected candidate
stays marked as rejected.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("case_number", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("applicant", sa.String(length=200), nullable=True))
    op.create_index(op.f("ix_uploads_case_number"), "uploads", ["case_number"], unique=False)

    op.create_table(
        "review_exceptions",
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("seen_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_index(op.f("ix_review_exceptions_open"), "review_exceptions", ["open"], unique=False)
    op.create_index(
        op.f("ix_review_exceptions_seen_updated_at"), "review_exceptions", ["seen_updated_at"], unique=False
    )
    op.create_index("ix_submissions_updated_at", "submissions", ["updated_at"], unique=False)

    op.create_table(
        "review_search_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_search_keys_kind_key", "review_search_keys", ["kind", "key"], unique=False)
    op.create_index(op.f("ix_review_search_keys_submission_id"), "review_search_keys", ["submission_id"], unique=False)

    op.create_table(
        "export_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_export_batches_created_at"), "export_batches", ["created_at"], unique=False)

    op.create_table(
        "export_sent",
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["export_batches.id"]),
        sa.PrimaryKeyConstraint("change_id"),
    )
    op.create_index(op.f("ix_export_sent_batch_id"), "export_sent", ["batch_id"], unique=False)
    op.create_index(op.f("ix_export_sent_submission_id"), "export_sent", ["submission_id"], unique=False)

    op.create_table(
        "second_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("first_user_id", sa.Integer(), nullable=False),
        sa.Column("second_user_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("parcel_id", sa.String(length=64), nullable=True),
        sa.Column("agrees", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"]),
        sa.ForeignKeyConstraint(["first_user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["second_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_id"),
    )
    op.create_index(op.f("ix_second_reviews_first_user_id"), "second_reviews", ["first_user_id"], unique=False)
    op.create_index(op.f("ix_second_reviews_submission_id"), "second_reviews", ["submission_id"], unique=False)

    # items closed by a reject alone (the old meaning) go back to pending
    op.execute(
        sa.text(
            "UPDATE submissions SET review_status = 'pending' WHERE review_status = 'decided' "
            "AND EXISTS (SELECT 1 FROM decisions d WHERE d.submission_id = submissions.id "
            "AND d.action = 'reject' AND d.undone_at IS NULL) "
            "AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.submission_id = submissions.id "
            "AND d.action IN ('accept', 'none') AND d.undone_at IS NULL)"
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_second_reviews_submission_id"), table_name="second_reviews")
    op.drop_index(op.f("ix_second_reviews_first_user_id"), table_name="second_reviews")
    op.drop_table("second_reviews")
    op.drop_index(op.f("ix_export_sent_submission_id"), table_name="export_sent")
    op.drop_index(op.f("ix_export_sent_batch_id"), table_name="export_sent")
    op.drop_table("export_sent")
    op.drop_index(op.f("ix_export_batches_created_at"), table_name="export_batches")
    op.drop_table("export_batches")
    op.drop_index(op.f("ix_review_search_keys_submission_id"), table_name="review_search_keys")
    op.drop_index("ix_review_search_keys_kind_key", table_name="review_search_keys")
    op.drop_table("review_search_keys")
    op.drop_index("ix_submissions_updated_at", table_name="submissions")
    op.drop_index(op.f("ix_review_exceptions_seen_updated_at"), table_name="review_exceptions")
    op.drop_index(op.f("ix_review_exceptions_open"), table_name="review_exceptions")
    op.drop_table("review_exceptions")
    op.drop_index(op.f("ix_uploads_case_number"), table_name="uploads")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("applicant")
        batch.drop_column("case_number")
