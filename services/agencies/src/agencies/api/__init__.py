"""Inbox API of an agency."""
