"""All SQL of the ledger, one module per table or concern. Each function takes the session of
the caller's unit of work and never commits."""
