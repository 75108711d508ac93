"""okane_operator."""
