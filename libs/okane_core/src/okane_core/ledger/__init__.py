"""The double-entry ledger: wallets, transactions, postings, idempotency, reconciliation."""
