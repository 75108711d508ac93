"""Database access: engine, units of work, error translation and the schema."""
