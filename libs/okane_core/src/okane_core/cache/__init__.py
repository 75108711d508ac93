"""Redis: the read cache and the small shared state of the services (rate limits, revocations)."""
