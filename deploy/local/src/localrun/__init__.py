"""localrun."""
