"""Tables of an agency's inbox."""
