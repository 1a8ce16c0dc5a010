"""keys a front end acted on once (Slack's event ids): a retry after a restart acts no more;
what a kept message is about (a prompt whose copies are replaced once used, after a restart too)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_keys",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_seen_keys_seen_at", "seen_keys", ["seen_at"])
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("topic", sa.String(length=80), nullable=True))
    op.create_index("ix_outbox_messages_topic", "outbox_messages", ["topic"])


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_topic", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("topic")
    op.drop_index("ix_seen_keys_seen_at", table_name="seen_keys")
    op.drop_table("seen_keys")
