"""Events of the cases service."""
