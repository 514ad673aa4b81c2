"""Audit trail events."""
