"""In-app inbox API of the notifications service."""
