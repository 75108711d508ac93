"""``okane_transfers_v2``: ``okane_transfers_v1`` plus a per-payer limit on payees that are not
yet the payer's contacts, so that transfers cannot walk the user base (each answer names the
payee, or says there is none), and, with ``p_verified_only``, payees found by phone or email
only through a verified one (an unverified address is answered as "no such user"); and a
contact keeps what the payer typed (``paid_as``), the only address a contact list shows.

Each transfer to someone the payer has never paid or been paid by (or to nobody at all) counts
in the payer's ``payee-lookup`` window in ``rate_limits``, the same counter the web app's
recipient look-up uses; over ``p_new_payees`` the transfer is refused with ``rate_limited``
before anything says whether the payee exists, and ``left_today`` carries the seconds until the
window ends. v1 stays for pods of the previous release during a rolling upgrade.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _v1_text() -> str:
    """v1's text as migration 0005 created it: v2 is v1 with the changes below."""
    path = Path(__file__).with_name("0005_transfer_function.py")
    spec = importlib.util.spec_from_file_location("okane_migration_0005", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.TRANSFERS)


SIGNATURE_V1 = """    p_timezone text
) RETURNS SETOF okane_transfer_outcome_v1"""
SIGNATURE_V2 = """    p_timezone text,
    p_new_payees integer,            -- payees outside the payer's contacts per window; NULL: any
    p_new_payee_window_seconds integer,
    p_verified_only boolean          -- phones and emails find a payee only once verified
) RETURNS SETOF okane_transfer_outcome_v1"""

DECLARE_V1 = "    found_name text;\nBEGIN"
DECLARE_V2 = "    found_name text;\n    looked_up integer;\n    wait_seconds integer;\nBEGIN"

CHECKS_V1 = """        -- Refusals write nothing: the claim made above is withdrawn.
        IF payee_account[i] IS NULL THEN"""
CHECKS_V2 = """        -- A payee outside the payer's contacts (or nobody) counts as a look-up;
        -- over the limit the answer is the same whether or not the payee exists.
        IF p_new_payees IS NOT NULL AND (payee_user[i] IS NULL OR NOT EXISTS (
            SELECT 1 FROM contacts c WHERE c.owner_id = p_payer[i] AND c.contact_id = payee_user[i]
        )) THEN
            INSERT INTO rate_limits AS rl (key, count, window_ends)
            VALUES ('payee-lookup:' || p_payer[i]::text, 1,
                now() + make_interval(secs => p_new_payee_window_seconds))
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN rl.window_ends <= now() THEN 1 ELSE rl.count + 1 END,
                window_ends = CASE WHEN rl.window_ends <= now()
                    THEN excluded.window_ends ELSE rl.window_ends END
            RETURNING rl.count, ceil(extract(epoch FROM rl.window_ends - now()))::integer
            INTO looked_up, wait_seconds;
            IF looked_up > p_new_payees THEN
                r.code := 'rate_limited';
                r.left_today := greatest(wait_seconds, 1);
            END IF;
        END IF;

        -- Refusals write nothing: the claim made above is withdrawn.
        IF r.code IS NOT NULL THEN
            NULL;
        ELSIF payee_account[i] IS NULL THEN"""


PHONE_V1 = "WHERE u.phone = p_ref[i];"
PHONE_V2 = (
    "WHERE u.phone = p_ref[i]\n"
    "                AND (NOT p_verified_only OR u.phone_verified_at IS NOT NULL);"
)
EMAIL_V1 = "WHERE u.email = p_ref[i];"
EMAIL_V2 = (
    "WHERE u.email = p_ref[i]\n"
    "                AND (NOT p_verified_only OR u.email_verified_at IS NOT NULL);"
)


CONTACTS_V1 = (
    "            INSERT INTO contacts AS c (owner_id, contact_id, last_paid_at, payments)\n"
)
CONTACTS_V1 += """            SELECT o, k, now(), 1 FROM (VALUES (p_payer[i], payee_user[i]),
                (payee_user[i], p_payer[i])) AS pair(o, k) ORDER BY o, k
            ON CONFLICT (owner_id, contact_id) DO UPDATE SET last_paid_at = now(),
                payments = c.payments + 1;"""
CONTACTS_V2 = (
    "            INSERT INTO contacts AS c (owner_id, contact_id, last_paid_at, payments,\n"
    "                paid_as)\n"
)
CONTACTS_V2 += """            SELECT o, k, now(), 1, a FROM (VALUES (p_payer[i], payee_user[i],
                CASE WHEN p_by[i] IN ('phone', 'email') THEN p_ref[i] END),
                (payee_user[i], p_payer[i], NULL)) AS pair(o, k, a) ORDER BY o, k
            ON CONFLICT (owner_id, contact_id) DO UPDATE SET last_paid_at = now(),
                payments = c.payments + 1, paid_as = coalesce(excluded.paid_as, c.paid_as);"""


def _v2() -> str:
    text = _v1_text().replace("FUNCTION okane_transfers_v1(", "FUNCTION okane_transfers_v2(")
    for old, new in [
        (SIGNATURE_V1, SIGNATURE_V2),
        (DECLARE_V1, DECLARE_V2),
        (CHECKS_V1, CHECKS_V2),
        (PHONE_V1, PHONE_V2),
        (EMAIL_V1, EMAIL_V2),
        (CONTACTS_V1, CONTACTS_V2),
    ]:
        if text.count(old) != 1:
            raise RuntimeError(f"okane_transfers_v1 changed; cannot derive v2 at {old!r}")
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    op.execute("ALTER TABLE contacts ADD COLUMN paid_as text")
    op.execute(_v2())


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS okane_transfers_v2(uuid[], uuid[], text[], bytea[], text[], "
        "text[], bigint[], text[], uuid[], bigint, integer, text, integer, integer, boolean)"
    )
    op.execute("ALTER TABLE contacts DROP COLUMN IF EXISTS paid_as")
