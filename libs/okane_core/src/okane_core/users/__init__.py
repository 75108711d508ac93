"""Users: identity, contact details and the lookups the ledger needs."""
