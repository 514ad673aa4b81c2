"""The seeded recipients directory."""
