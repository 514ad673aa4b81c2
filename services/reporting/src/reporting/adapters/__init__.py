"""Aggregate tables of the reporting service: counts only, never identities."""
