"""Initial schema: conversations, turns, iterations, blocks, versions, provenance, artifacts, blobs.

Timestamps are naive UTC on disk (envloop.store.models.UTCDateTime adds the zone back).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 05:40:39.839007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_blobs'))
    )
    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('fork_turn', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('lock_owner', sa.String(length=120), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['conversations.id'], name=op.f('fk_conversations_parent_id_conversations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_conversations_channel_external_id'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_updated_at', ['updated_at'], unique=False)

    op.create_table('system_prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_system_prompts')),
    sa.UniqueConstraint('sha256', name=op.f('uq_system_prompts_sha256'))
    )
    op.create_table('queries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('tokens_in', sa.Integer(), nullable=False),
    sa.Column('tokens_out', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('iteration_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'done', 'error', 'interrupted', 'cancelled', 'budget_exhausted')", name=op.f('ck_queries_status')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_queries_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queries')),
    sa.UniqueConstraint('conversation_id', 'position', name=op.f('uq_queries_conversation_id_position'))
    )
    with op.batch_alter_table('queries', schema=None) as batch_op:
        batch_op.create_index('ix_queries_status', ['status'], unique=False)

    op.create_table('iterations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('system_prompt_id', sa.Integer(), nullable=True),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('raw_reply', sa.Text(), nullable=True),
    sa.Column('thinking', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('tokens_in', sa.Integer(), nullable=False),
    sa.Column('tokens_out', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['query_id'], ['queries.id'], name=op.f('fk_iterations_query_id_queries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['system_prompt_id'], ['system_prompts.id'], name=op.f('fk_iterations_system_prompt_id_system_prompts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iterations')),
    sa.UniqueConstraint('query_id', 'position', name=op.f('uq_iterations_query_id_position'))
    )
    op.create_table('blocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=True),
    sa.Column('iteration_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=10), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('stdout', sa.Text(), nullable=False),
    sa.Column('result_preview', sa.Text(), nullable=True),
    sa.Column('error_type', sa.String(length=120), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('error_line', sa.Integer(), nullable=True),
    sa.Column('limit_hit', sa.String(length=16), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("author IN ('llm', 'user', 'system')", name=op.f('ck_blocks_author')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_blocks_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['iteration_id'], ['iterations.id'], name=op.f('fk_blocks_iteration_id_iterations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['query_id'], ['queries.id'], name=op.f('fk_blocks_query_id_queries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocks'))
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index('ix_blocks_conversation_id', ['conversation_id', 'id'], unique=False)
        batch_op.create_index('ix_blocks_iteration_id', ['iteration_id'], unique=False)
        batch_op.create_index('ix_blocks_query_id', ['query_id'], unique=False)

    op.create_table('artifact_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=200), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('block_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['block_id'], ['blocks.id'], name=op.f('fk_artifact_versions_block_id_blocks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['content_sha256'], ['blobs.sha256'], name=op.f('fk_artifact_versions_content_sha256_blobs')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_artifact_versions_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifact_versions')),
    sa.UniqueConstraint('conversation_id', 'name', 'version', name=op.f('uq_artifact_versions_conversation_id_name_version'))
    )
    with op.batch_alter_table('artifact_versions', schema=None) as batch_op:
        batch_op.create_index('ix_artifact_versions_block_id', ['block_id'], unique=False)

    op.create_table('definition_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('encoding', sa.String(length=20), nullable=True),
    sa.Column('value_sha256', sa.String(length=64), nullable=True),
    sa.Column('lost_reason', sa.Text(), nullable=True),
    sa.Column('preview', sa.Text(), nullable=True),
    sa.Column('type_name', sa.String(length=200), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('block_id', sa.Integer(), nullable=True),
    sa.Column('rolled_back_from_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('value', 'function', 'class', 'import', 'deleted')", name=op.f('ck_definition_versions_kind')),
    sa.ForeignKeyConstraint(['block_id'], ['blocks.id'], name=op.f('fk_definition_versions_block_id_blocks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_definition_versions_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rolled_back_from_id'], ['definition_versions.id'], name=op.f('fk_definition_versions_rolled_back_from_id_definition_versions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['value_sha256'], ['blobs.sha256'], name=op.f('fk_definition_versions_value_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_definition_versions')),
    sa.UniqueConstraint('conversation_id', 'name', 'version', name=op.f('uq_definition_versions_conversation_id_name_version'))
    )
    with op.batch_alter_table('definition_versions', schema=None) as batch_op:
        batch_op.create_index('ix_definition_versions_block_id', ['block_id'], unique=False)
        batch_op.create_index('ix_definition_versions_conversation_id', ['conversation_id', 'id'], unique=False)

    op.create_table('provenance_edges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_version_id', sa.Integer(), nullable=True),
    sa.Column('artifact_version_id', sa.Integer(), nullable=True),
    sa.Column('read_definition_version_id', sa.Integer(), nullable=True),
    sa.Column('read_artifact_version_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(definition_version_id IS NULL) <> (artifact_version_id IS NULL)', name=op.f('ck_provenance_edges_one_target')),
    sa.CheckConstraint('(read_definition_version_id IS NULL) <> (read_artifact_version_id IS NULL)', name=op.f('ck_provenance_edges_one_source')),
    sa.ForeignKeyConstraint(['artifact_version_id'], ['artifact_versions.id'], name=op.f('fk_provenance_edges_artifact_version_id_artifact_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['definition_version_id'], ['definition_versions.id'], name=op.f('fk_provenance_edges_definition_version_id_definition_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['read_artifact_version_id'], ['artifact_versions.id'], name=op.f('fk_provenance_edges_read_artifact_version_id_artifact_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['read_definition_version_id'], ['definition_versions.id'], name=op.f('fk_provenance_edges_read_definition_version_id_definition_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provenance_edges'))
    )
    with op.batch_alter_table('provenance_edges', schema=None) as batch_op:
        batch_op.create_index('ix_provenance_edges_artifact_version_id', ['artifact_version_id'], unique=False)
        batch_op.create_index('ix_provenance_edges_definition_version_id', ['definition_version_id'], unique=False)
        batch_op.create_index('ix_provenance_edges_read_definition_version_id', ['read_definition_version_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('provenance_edges', schema=None) as batch_op:
        batch_op.drop_index('ix_provenance_edges_read_definition_version_id')
        batch_op.drop_index('ix_provenance_edges_definition_version_id')
        batch_op.drop_index('ix_provenance_edges_artifact_version_id')

    op.drop_table('provenance_edges')
    with op.batch_alter_table('definition_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_definition_versions_conversation_id')
        batch_op.drop_index('ix_definition_versions_block_id')

    op.drop_table('definition_versions')
    with op.batch_alter_table('artifact_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_artifact_versions_block_id')

    op.drop_table('artifact_versions')
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.drop_index('ix_blocks_query_id')
        batch_op.drop_index('ix_blocks_iteration_id')
        batch_op.drop_index('ix_blocks_conversation_id')

    op.drop_table('blocks')
    op.drop_table('iterations')
    with op.batch_alter_table('queries', schema=None) as batch_op:
        batch_op.drop_index('ix_queries_status')

    op.drop_table('queries')
    op.drop_table('system_prompts')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_updated_at')

    op.drop_table('conversations')
    op.drop_table('blobs')
