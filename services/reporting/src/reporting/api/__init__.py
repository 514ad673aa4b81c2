"""Report API."""
