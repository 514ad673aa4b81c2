"""Tables and translators of the cases service."""
