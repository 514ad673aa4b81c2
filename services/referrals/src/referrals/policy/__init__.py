"""Routing policy files shipped with the service."""
