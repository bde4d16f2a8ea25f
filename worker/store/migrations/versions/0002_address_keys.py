"""address keys on registry parcels and owners: an ID card's residence (house number and street) finds the
parcel its holder lives on when the card carries no number the registry knows

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Existing rows get their keys on the next `intake parcels import` (the re-import sees every row as changed
once and fills them); until then residence blocking simply finds nothing for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("registry_parcels", sa.Column("address_key", sa.String(length=200), nullable=True))
    op.add_column("registry_owners", sa.Column("address_key", sa.String(length=200), nullable=True))
    op.create_index("ix_registry_parcels_address_key", "registry_parcels", ["address_key"], unique=False)
    op.create_index("ix_registry_owners_address_key", "registry_owners", ["address_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_registry_owners_address_key", table_name="registry_owners")
    op.drop_index("ix_registry_parcels_address_key", table_name="registry_parcels")
    with op.batch_alter_table("registry_owners") as batch:
        batch.drop_column("address_key")
    with op.batch_alter_table("registry_parcels") as batch:
        batch.drop_column("address_key")
