"""Sign-up, login (password or Google), tokens, sessions and their revocation."""
