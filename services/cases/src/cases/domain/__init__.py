"""The cases domain: intake rules, no I/O."""
