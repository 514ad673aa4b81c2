"""Who is told what — no I/O."""
