"""login security: users.name_key (the normalised name logins look a user up by) and login_throttle (failure
scores per user name and per client address, shared by every review-app process)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Existing users get their key from their name. Two existing names that fold to the same key (`An` and `an`)
cannot both log in by it: the later account's key gets `#<id>` appended and a warning is logged, so an admin
can rename it; nothing is lost.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)


def _name_key(name: str) -> str:
    """worker.store.logins.name_key as of this revision (a migration must not change with the code)."""
    folded = " ".join(unicodedata.normalize("NFC", name).split()).casefold()
    return unicodedata.normalize("NFC", folded)


def upgrade() -> None:
    op.add_column("users", sa.Column("name_key", sa.String(length=80), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("name_key"))
    bind = op.get_bind()
    seen: set[str] = set()
    for user_id, name in bind.execute(sa.select(users.c.id, users.c.name).order_by(users.c.id)).all():
        key = _name_key(name)[:80]
        if key in seen:
            log.warning("user %d: name folds to an existing account's; log-in key set to %s#%d", user_id, key, user_id)
            key = f"{key[:70]}#{user_id}"
        seen.add(key)
        bind.execute(users.update().where(users.c.id == user_id).values(name_key=key))
    op.create_index(op.f("ix_users_name_key"), "users", ["name_key"], unique=True)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("updated_s", sa.Float(), nullable=False),
        sa.Column("blocked_until_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_login_throttle_updated_s"), "login_throttle", ["updated_s"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_throttle_updated_s"), table_name="login_throttle")
    op.drop_table("login_throttle")
    op.drop_index(op.f("ix_users_name_key"), table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("name_key")
