"""okane_bank_webhook."""
