"""initial schema: registry (parcels, owners, term frequencies, commune names, imports), results
(submissions, source objects, documents, fields, proposals, errors, jobs) and review (users, queue, leases,
decisions, append-only audit log with its triggers, settings, uploads)

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def install_audit_triggers(bind: sa.Connection) -> None:
    """audit_log is append-only, enforced by the database (copied from worker.store.review as of this
    revision: a migration must not change when the application code does)."""
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    elif bind.dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END"
        )
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)'); END"
        )


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_submission_id"), "audit_log", ["submission_id"], unique=False)
    install_audit_triggers(op.get_bind())
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=120), nullable=True),
        sa.Column("backfill_id", sa.String(length=64), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("dead_lettered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_jobs_backfill_id"), "jobs", ["backfill_id"], unique=False)
    op.create_index(op.f("ix_jobs_error_code"), "jobs", ["error_code"], unique=False)
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"], unique=False)
    op.create_index(op.f("ix_jobs_submission_id"), "jobs", ["submission_id"], unique=False)
    op.create_table(
        "registry_commune_names",
        sa.Column("name_key", sa.String(length=80), nullable=False),
        sa.Column("commune_code", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name_key", "commune_code"),
    )
    op.create_table(
        "registry_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "registry_owners",
        sa.Column("owner_id", sa.String(length=80), nullable=False),
        sa.Column("parcel_id", sa.String(length=64), nullable=False),
        sa.Column("owner_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("name_key", sa.String(length=120), nullable=True),
        sa.Column("given_key", sa.String(length=40), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("id_number", sa.String(length=20), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("repaired", sa.String(length=60), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("owner_id"),
    )
    op.create_index(
        "ix_registry_owners_given_year", "registry_owners", ["given_key", "birth_year", "name_key"], unique=False
    )
    op.create_index("ix_registry_owners_id_number", "registry_owners", ["id_number"], unique=False)
    op.create_index("ix_registry_owners_name_year", "registry_owners", ["name_key", "birth_year"], unique=False)
    op.create_index("ix_registry_owners_parcel_id", "registry_owners", ["parcel_id"], unique=False)
    op.create_index("ix_registry_owners_year_name", "registry_owners", ["birth_year", "name_key"], unique=False)
    op.create_table(
        "registry_parcels",
        sa.Column("parcel_id", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=10), nullable=True),
        sa.Column("map_sheet_number", sa.Integer(), nullable=True),
        sa.Column("parcel_number", sa.Integer(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("land_use_code", sa.String(length=40), nullable=True),
        sa.Column("certificate_serial", sa.String(length=40), nullable=True),
        sa.Column("registry_number", sa.String(length=40), nullable=True),
        sa.Column("serial_key", sa.String(length=40), nullable=True),
        sa.Column("serial_number", sa.String(length=20), nullable=True),
        sa.Column("registry_key", sa.String(length=40), nullable=True),
        sa.Column("commune_key", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("superseded_by", sa.Text(), nullable=True),
        sa.Column("derived_from", sa.Text(), nullable=True),
        sa.Column("repaired", sa.String(length=60), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("parcel_id"),
    )
    op.create_index(
        "ix_registry_parcels_ref",
        "registry_parcels",
        ["map_sheet_number", "parcel_number", "commune_code"],
        unique=False,
    )
    op.create_index("ix_registry_parcels_registry_key", "registry_parcels", ["registry_key"], unique=False)
    op.create_index("ix_registry_parcels_serial_key", "registry_parcels", ["serial_key"], unique=False)
    op.create_index("ix_registry_parcels_serial_number", "registry_parcels", ["serial_number"], unique=False)
    op.create_table(
        "registry_term_freq",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    op.create_table(
        "review_settings",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("prefix", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("commune_code", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_status", sa.String(length=20), nullable=False),
        sa.Column("best_band", sa.String(length=20), nullable=True),
        sa.Column("best_confidence", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_submissions_best_band"), "submissions", ["best_band"], unique=False)
    op.create_index(op.f("ix_submissions_commune_code"), "submissions", ["commune_code"], unique=False)
    op.create_index(op.f("ix_submissions_review_status"), "submissions", ["review_status"], unique=False)
    op.create_index(op.f("ix_submissions_status"), "submissions", ["status"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("parcel_id", sa.String(length=64), nullable=True),
        sa.Column("owner_id", sa.String(length=80), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("field", sa.String(length=60), nullable=True),
        sa.Column("owner_index", sa.Integer(), nullable=True),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["undone_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_decisions_action"), "decisions", ["action"], unique=False)
    op.create_index(op.f("ix_decisions_decided_at"), "decisions", ["decided_at"], unique=False)
    op.create_index(op.f("ix_decisions_parcel_id"), "decisions", ["parcel_id"], unique=False)
    op.create_index(op.f("ix_decisions_submission_id"), "decisions", ["submission_id"], unique=False)
    op.create_index(op.f("ix_decisions_user_id"), "decisions", ["user_id"], unique=False)
    op.create_table(
        "document_errors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "source", "code", name="uq_document_error"),
    )
    op.create_index(op.f("ix_document_errors_code"), "document_errors", ["code"], unique=False)
    op.create_index(op.f("ix_document_errors_submission_id"), "document_errors", ["submission_id"], unique=False)
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("parcel_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=80), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "rank", name="uq_proposal_rank"),
    )
    op.create_index(op.f("ix_proposals_band"), "proposals", ["band"], unique=False)
    op.create_index(op.f("ix_proposals_parcel_id"), "proposals", ["parcel_id"], unique=False)
    op.create_index(op.f("ix_proposals_submission_id"), "proposals", ["submission_id"], unique=False)
    op.create_table(
        "review_leases",
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_index(op.f("ix_review_leases_expires_at"), "review_leases", ["expires_at"], unique=False)
    op.create_index(op.f("ix_review_leases_user_id"), "review_leases", ["user_id"], unique=False)
    op.create_table(
        "review_queue",
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_index(op.f("ix_review_queue_reason"), "review_queue", ["reason"], unique=False)
    op.create_table(
        "source_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("version_id", sa.String(length=255), nullable=False),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("pipeline_version", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["source_objects.id"],
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bucket", "key", "version_id", name="uq_source_object"),
    )
    op.create_index(op.f("ix_source_objects_sha256"), "source_objects", ["sha256"], unique=False)
    op.create_index(op.f("ix_source_objects_submission_id"), "source_objects", ["submission_id"], unique=False)
    op.create_table(
        "uploads",
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=1024), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_index(op.f("ix_uploads_created_at"), "uploads", ["created_at"], unique=False)
    op.create_index(op.f("ix_uploads_user_id"), "uploads", ["user_id"], unique=False)
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.String(length=200), nullable=False),
        sa.Column("source_object_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("doc_type", sa.String(length=20), nullable=False),
        sa.Column("doc_type_confidence", sa.Float(), nullable=False),
        sa.Column("orientation_deg", sa.Integer(), nullable=False),
        sa.Column("skew_deg", sa.Float(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("image_key", sa.String(length=1024), nullable=True),
        sa.Column("pipeline_version", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_object_id"],
            ["source_objects.id"],
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "sha256", "page", "part", name="uq_document"),
    )
    op.create_index(op.f("ix_documents_doc_type"), "documents", ["doc_type"], unique=False)
    op.create_index(op.f("ix_documents_sha256"), "documents", ["sha256"], unique=False)
    op.create_index(op.f("ix_documents_submission_id"), "documents", ["submission_id"], unique=False)
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


def downgrade() -> None:
    op.drop_index(op.f("ix_fields_document_id"), table_name="fields")
    op.drop_table("fields")
    op.drop_index(op.f("ix_documents_submission_id"), table_name="documents")
    op.drop_index(op.f("ix_documents_sha256"), table_name="documents")
    op.drop_index(op.f("ix_documents_doc_type"), table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_uploads_user_id"), table_name="uploads")
    op.drop_index(op.f("ix_uploads_created_at"), table_name="uploads")
    op.drop_table("uploads")
    op.drop_index(op.f("ix_source_objects_submission_id"), table_name="source_objects")
    op.drop_index(op.f("ix_source_objects_sha256"), table_name="source_objects")
    op.drop_table("source_objects")
    op.drop_index(op.f("ix_review_queue_reason"), table_name="review_queue")
    op.drop_table("review_queue")
    op.drop_index(op.f("ix_review_leases_user_id"), table_name="review_leases")
    op.drop_index(op.f("ix_review_leases_expires_at"), table_name="review_leases")
    op.drop_table("review_leases")
    op.drop_index(op.f("ix_proposals_submission_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_parcel_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_band"), table_name="proposals")
    op.drop_table("proposals")
    op.drop_index(op.f("ix_document_errors_submission_id"), table_name="document_errors")
    op.drop_index(op.f("ix_document_errors_code"), table_name="document_errors")
    op.drop_table("document_errors")
    op.drop_index(op.f("ix_decisions_user_id"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_submission_id"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_parcel_id"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_decided_at"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_action"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("users")
    op.drop_index(op.f("ix_submissions_status"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_review_status"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_commune_code"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_best_band"), table_name="submissions")
    op.drop_table("submissions")
    op.drop_table("review_settings")
    op.drop_table("registry_term_freq")
    op.drop_index("ix_registry_parcels_serial_number", table_name="registry_parcels")
    op.drop_index("ix_registry_parcels_serial_key", table_name="registry_parcels")
    op.drop_index("ix_registry_parcels_registry_key", table_name="registry_parcels")
    op.drop_index("ix_registry_parcels_ref", table_name="registry_parcels")
    op.drop_table("registry_parcels")
    op.drop_index("ix_registry_owners_year_name", table_name="registry_owners")
    op.drop_index("ix_registry_owners_parcel_id", table_name="registry_owners")
    op.drop_index("ix_registry_owners_name_year", table_name="registry_owners")
    op.drop_index("ix_registry_owners_id_number", table_name="registry_owners")
    op.drop_index("ix_registry_owners_given_year", table_name="registry_owners")
    op.drop_table("registry_owners")
    op.drop_table("registry_imports")
    op.drop_table("registry_commune_names")
    op.drop_index(op.f("ix_jobs_submission_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_status"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_error_code"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_backfill_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_audit_log_submission_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
