"""webhook deliveries are a durable queue: the payload is kept until its work is done

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        # deliveries recorded before this were acted on already
        batch.add_column(sa.Column("state", sa.String(length=12), nullable=False, server_default="done"))
        batch.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch.add_column(sa.Column("result", sa.Text(), nullable=True))
        batch.add_column(sa.Column("done_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_webhook_deliveries_state", "webhook_deliveries", ["state"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_state", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("done_at")
        batch.drop_column("result")
        batch.drop_column("payload")
        batch.drop_column("state")
