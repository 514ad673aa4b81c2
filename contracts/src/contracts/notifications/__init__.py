"""Events of the notifications service."""
