"""Platform billing: catalog (plans, immutable versions), subscriptions and their change log, usage quantities and
payload hashes, invoices with lines, tax per rate and usage snapshots, credit notes, tenants' payments, the
platform's ledger, and the platform-finance key role. PostgreSQL enforces immutability and the ledger balance.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:07:28.583508+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

ROLE_BINDING_OLD = (
    "(role = 'platform' AND tenant_id IS NULL AND merchant_id IS NULL)"
    " OR (role IN ('operator_admin', 'operator_finance') AND tenant_id IS NOT NULL AND merchant_id IS NULL)"
    " OR (role = 'merchant' AND tenant_id IS NOT NULL AND merchant_id IS NOT NULL)"
)
ROLE_BINDING_NEW = ROLE_BINDING_OLD.replace("role = 'platform'", "role IN ('platform', 'platform_finance')")

# Immutability and the platform ledger's balance, enforced by the database (the service never tries).
TRIGGERS_UP = """
CREATE FUNCTION billing_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: issue a new version, a credit note or a reversing entry', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION billing_invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'finalized' THEN
        RAISE EXCEPTION 'invoice % is finalized and immutable: issue a credit note', OLD.number
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE FUNCTION billing_invoice_part_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent text := CASE TG_OP WHEN 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
BEGIN
    IF (SELECT status FROM billing_invoices WHERE id = parent) = 'finalized' THEN
        RAISE EXCEPTION 'invoice % is finalized: its % never change', parent, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE FUNCTION billing_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT COALESCE(SUM(CASE direction WHEN 'debit' THEN amount ELSE -amount END), 0)
          FROM billing_postings WHERE entry_id = NEW.entry_id) <> 0
       OR (SELECT count(*) FROM billing_postings WHERE entry_id = NEW.entry_id) < 2 THEN
        RAISE EXCEPTION 'platform journal entry % does not balance', NEW.entry_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER billing_plan_versions_immutable BEFORE UPDATE OR DELETE ON billing_plan_versions
    FOR EACH ROW EXECUTE FUNCTION billing_forbid_change();
CREATE TRIGGER billing_subscription_changes_append_only BEFORE UPDATE OR DELETE ON billing_subscription_changes
    FOR EACH ROW EXECUTE FUNCTION billing_forbid_change();
CREATE TRIGGER billing_credit_notes_immutable BEFORE UPDATE OR DELETE ON billing_credit_notes
    FOR EACH ROW EXECUTE FUNCTION billing_forbid_change();
CREATE TRIGGER billing_payments_append_only BEFORE UPDATE OR DELETE ON billing_payments
    FOR EACH ROW EXECUTE FUNCTION billing_forbid_change();
CREATE TRIGGER billing_journal_entries_append_only BEFORE UPDATE OR DELETE ON billing_journal_entries
    FOR EACH ROW EXECUTE FUNCTION billing_forbid_change();
CREATE TRIGGER billing_postings_append_only BEFORE UPDATE OR DELETE ON billing_postings
    FOR EACH ROW EXECUTE FUNCTION billing_forbid_change();
CREATE TRIGGER billing_invoices_frozen BEFORE UPDATE OR DELETE ON billing_invoices
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();
CREATE TRIGGER billing_invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON billing_invoice_lines
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_part_frozen();
CREATE TRIGGER billing_invoice_taxes_frozen BEFORE INSERT OR UPDATE OR DELETE ON billing_invoice_taxes
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_part_frozen();
CREATE TRIGGER billing_usage_snapshots_frozen BEFORE INSERT OR UPDATE OR DELETE ON billing_usage_snapshots
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_part_frozen();
CREATE CONSTRAINT TRIGGER billing_postings_balanced
    AFTER INSERT ON billing_postings DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_check_entry_balanced();
"""

TRIGGERS_DOWN = """
DROP TRIGGER IF EXISTS billing_postings_balanced ON billing_postings;
DROP TRIGGER IF EXISTS billing_usage_snapshots_frozen ON billing_usage_snapshots;
DROP TRIGGER IF EXISTS billing_invoice_taxes_frozen ON billing_invoice_taxes;
DROP TRIGGER IF EXISTS billing_invoice_lines_frozen ON billing_invoice_lines;
DROP TRIGGER IF EXISTS billing_invoices_frozen ON billing_invoices;
DROP TRIGGER IF EXISTS billing_postings_append_only ON billing_postings;
DROP TRIGGER IF EXISTS billing_journal_entries_append_only ON billing_journal_entries;
DROP TRIGGER IF EXISTS billing_payments_append_only ON billing_payments;
DROP TRIGGER IF EXISTS billing_credit_notes_immutable ON billing_credit_notes;
DROP TRIGGER IF EXISTS billing_subscription_changes_append_only ON billing_subscription_changes;
DROP TRIGGER IF EXISTS billing_plan_versions_immutable ON billing_plan_versions;
DROP FUNCTION IF EXISTS billing_check_entry_balanced();
DROP FUNCTION IF EXISTS billing_invoice_part_frozen();
DROP FUNCTION IF EXISTS billing_invoice_frozen();
DROP FUNCTION IF EXISTS billing_forbid_change();
"""

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '5s'")
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "billing_issuer",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("registration_number", sa.String(length=14), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("bank_account", sa.String(length=200), nullable=False),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("invoice_prefix", sa.String(length=10), nullable=False),
        sa.Column("credit_note_prefix", sa.String(length=10), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_issuer")),
    )
    op.create_table(
        "billing_journal_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_journal_entries")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_billing_journal_entries_source_ref")),
    )
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('base', 'addon')", name=op.f("ck_billing_plans_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_billing_plans_code")),
    )
    op.create_table(
        "billing_invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("service_month", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("number_seq", sa.BigInteger(), nullable=True),
        sa.Column("number", sa.String(length=30), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column(
            "issuer", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "customer", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalized_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'draft' AND number IS NULL) OR (status = 'finalized' AND number IS NOT NULL)",
            name=op.f("ck_billing_invoices_numbered"),
        ),
        sa.CheckConstraint("status IN ('draft', 'finalized')", name=op.f("ck_billing_invoices_status")),
        sa.CheckConstraint("total = subtotal + tax_total", name=op.f("ck_billing_invoices_total")),
        sa.ForeignKeyConstraint(["tenant_id"], ["operators.id"], name=op.f("fk_billing_invoices_tenant_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_billing_invoices_number")),
        sa.UniqueConstraint("number_seq", name=op.f("uq_billing_invoices_number_seq")),
        sa.UniqueConstraint("tenant_id", "service_month", name=op.f("uq_billing_invoices_tenant_id_service_month")),
    )
    op.create_table(
        "billing_late_usage",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("service_month", sa.Date(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["operators.id"], name=op.f("fk_billing_late_usage_tenant_id_operators")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "service_month", name=op.f("pk_billing_late_usage")),
    )
    op.create_table(
        "billing_plan_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("monthly_fee", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate", sa.SmallInteger(), nullable=False),
        sa.Column(
            "charges", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("line_rounding", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("monthly_fee >= 0", name=op.f("ck_billing_plan_versions_fee_not_negative")),
        sa.CheckConstraint("tax_rate IN (0, 8, 10)", name=op.f("ck_billing_plan_versions_tax_rate")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_billing_plan_versions_plan_id_billing_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plan_versions")),
        sa.UniqueConstraint("plan_id", "version", name=op.f("uq_billing_plan_versions_plan_id_version")),
    )
    op.create_table(
        "billing_postings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("direction IN ('debit', 'credit')", name=op.f("ck_billing_postings_direction")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_billing_postings_amount_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["billing_journal_entries.id"],
            name=op.f("fk_billing_postings_entry_id_billing_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_postings")),
    )
    op.create_index("ix_billing_postings_entry", "billing_postings", ["entry_id"], unique=False)
    op.create_table(
        "billing_credit_notes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("number_seq", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("invoice_number", sa.String(length=30), nullable=False),
        sa.Column("invoice_service_month", sa.Date(), nullable=False),
        sa.Column("invoice_issue_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("qualified_required", sa.Boolean(), nullable=False),
        sa.Column(
            "lines", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "taxes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "issuer", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "subtotal > 0 AND tax_total >= 0 AND total = subtotal + tax_total",
            name=op.f("ck_billing_credit_notes_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["billing_invoices.id"], name=op.f("fk_billing_credit_notes_invoice_id_billing_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["operators.id"], name=op.f("fk_billing_credit_notes_tenant_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_credit_notes")),
        sa.UniqueConstraint("number", name=op.f("uq_billing_credit_notes_number")),
        sa.UniqueConstraint("number_seq", name=op.f("uq_billing_credit_notes_number_seq")),
    )
    op.create_table(
        "billing_invoice_lines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=True),
        sa.Column("plan_version_id", sa.String(length=40), nullable=True),
        sa.Column("metric", sa.String(length=40), nullable=True),
        sa.Column("service_month", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.String(length=30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('base_fee', 'addon_fee', 'usage', 'usage_correction')", name=op.f("ck_billing_invoice_lines_kind")
        ),
        sa.CheckConstraint("quantity >= 0 AND amount >= 0", name=op.f("ck_billing_invoice_lines_not_negative")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["billing_invoices.id"], name=op.f("fk_billing_invoice_lines_invoice_id_billing_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_lines")),
        sa.UniqueConstraint("invoice_id", "position", name=op.f("uq_billing_invoice_lines_invoice_id_position")),
    )
    op.create_table(
        "billing_invoice_taxes",
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("tax_rate", sa.SmallInteger(), nullable=False),
        sa.Column("taxable_base", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["billing_invoices.id"], name=op.f("fk_billing_invoice_taxes_invoice_id_billing_invoices")
        ),
        sa.PrimaryKeyConstraint("invoice_id", "tax_rate", name=op.f("pk_billing_invoice_taxes")),
    )
    op.create_table(
        "billing_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_billing_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["billing_invoices.id"], name=op.f("fk_billing_payments_invoice_id_billing_invoices")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["operators.id"], name=op.f("fk_billing_payments_tenant_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_payments")),
    )
    op.create_index(op.f("ix_billing_payments_invoice_id"), "billing_payments", ["invoice_id"], unique=False)
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("plan_version_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("monthly_fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("replaces_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("ended_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_date IS NULL OR end_date > start_date", name=op.f("ck_billing_subscriptions_period")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["billing_plans.id"], name=op.f("fk_billing_subscriptions_plan_id_billing_plans")
        ),
        sa.ForeignKeyConstraint(
            ["plan_version_id"],
            ["billing_plan_versions.id"],
            name=op.f("fk_billing_subscriptions_plan_version_id_billing_plan_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["operators.id"], name=op.f("fk_billing_subscriptions_tenant_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscriptions")),
    )
    op.create_index(
        "ix_billing_subscriptions_tenant", "billing_subscriptions", ["tenant_id", "start_date"], unique=False
    )
    op.create_table(
        "billing_usage_snapshots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("service_month", sa.Date(), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["billing_invoices.id"], name=op.f("fk_billing_usage_snapshots_invoice_id_billing_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["operators.id"], name=op.f("fk_billing_usage_snapshots_tenant_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_snapshots")),
    )
    op.create_index(
        "ix_billing_usage_snapshots_key",
        "billing_usage_snapshots",
        ["tenant_id", "subscription_id", "metric", "service_month"],
        unique=False,
    )
    op.create_table(
        "billing_subscription_changes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("stock_delta", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('start', 'end')", name=op.f("ck_billing_subscription_changes_action")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["billing_subscriptions.id"],
            name=op.f("fk_billing_subscription_changes_subscription_id_billing_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["operators.id"], name=op.f("fk_billing_subscription_changes_tenant_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscription_changes")),
        sa.UniqueConstraint(
            "subscription_id", "action", name=op.f("uq_billing_subscription_changes_subscription_id_action")
        ),
    )
    op.create_index(
        "ix_billing_subscription_changes_effective", "billing_subscription_changes", ["effective_date"], unique=False
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quantity", sa.BigInteger(), server_default=sa.text("1"), nullable=False))
        batch_op.add_column(sa.Column("payload_hash", sa.String(length=64), nullable=True))
        # Widening a varchar is a catalogue change on PostgreSQL (no table rewrite).
        batch_op.alter_column(
            "source_id", existing_type=sa.VARCHAR(length=40), type_=sa.String(length=100), existing_nullable=False
        )
        batch_op.create_index("ix_usage_events_tenant_occurred", ["tenant_id", "occurred_at"], unique=False)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_keys_role_binding"), type_="check")
        batch_op.create_check_constraint("role_binding", ROLE_BINDING_NEW)
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index("ix_journal_entries_effective", ["tenant_id", "effective_date"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TRIGGERS_UP)
    # ### end Alembic commands ###


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL lock_timeout = '5s'")
    # ### commands auto generated by Alembic - please adjust! ###
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TRIGGERS_DOWN)
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_entries_effective")
    op.execute("DELETE FROM api_keys WHERE role = 'platform_finance'")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_keys_role_binding"), type_="check")
        batch_op.create_check_constraint("role_binding", ROLE_BINDING_OLD)
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_tenant_occurred")
        batch_op.alter_column(
            "source_id", existing_type=sa.String(length=100), type_=sa.VARCHAR(length=40), existing_nullable=False
        )
        batch_op.drop_column("payload_hash")
        batch_op.drop_column("quantity")
    op.drop_index("ix_billing_subscription_changes_effective", table_name="billing_subscription_changes")
    op.drop_table("billing_subscription_changes")
    op.drop_index("ix_billing_usage_snapshots_key", table_name="billing_usage_snapshots")
    op.drop_table("billing_usage_snapshots")
    op.drop_index("ix_billing_subscriptions_tenant", table_name="billing_subscriptions")
    op.drop_table("billing_subscriptions")
    op.drop_index(op.f("ix_billing_payments_invoice_id"), table_name="billing_payments")
    op.drop_table("billing_payments")
    op.drop_table("billing_invoice_taxes")
    op.drop_table("billing_invoice_lines")
    op.drop_table("billing_credit_notes")
    op.drop_index("ix_billing_postings_entry", table_name="billing_postings")
    op.drop_table("billing_postings")
    op.drop_table("billing_plan_versions")
    op.drop_table("billing_late_usage")
    op.drop_table("billing_invoices")
    op.drop_table("billing_plans")
    op.drop_table("billing_journal_entries")
    op.drop_table("billing_issuer")
    # ### end Alembic commands ###
