"""okane_core."""
