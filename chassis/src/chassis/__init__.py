"""chassis."""
