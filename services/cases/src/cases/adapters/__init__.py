"""Tables, the store over them (and its in-memory fake), identity sealing and translators
of the cases service."""
