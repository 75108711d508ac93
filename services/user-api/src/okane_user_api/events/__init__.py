"""Live wallet updates over Server-Sent Events."""
