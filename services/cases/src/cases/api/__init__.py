"""HTTP API of the cases service."""
