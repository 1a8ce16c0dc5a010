"""stacks: when the first deploy went live (the postdeploy command runs once, then)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_live_at", sa.DateTime(timezone=True), nullable=True))
    # Stacks live before this revision had their first deploy already: no postdeploy for them.
    stacks = sa.table("stacks", sa.column("first_live_at"), sa.column("created_at"), sa.column("commit"))
    op.execute(stacks.update().where(stacks.c.commit.isnot(None)).values(first_live_at=stacks.c.created_at))


def downgrade() -> None:
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.drop_column("first_live_at")
