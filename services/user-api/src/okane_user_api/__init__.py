"""okane_user_api."""
