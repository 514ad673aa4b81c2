"""Tables and directory loading of the notifications service."""
