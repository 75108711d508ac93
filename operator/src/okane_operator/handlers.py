"""Kopf handlers for CacheWarmJob resources."""
