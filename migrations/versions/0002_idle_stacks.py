"""idle stacks: request counter, whether the processes sleep, stream cursors

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requests", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("asleep", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.drop_column("asleep")
        batch_op.drop_column("requests")
