"""Shared HTTP plumbing for the OKANE services."""
