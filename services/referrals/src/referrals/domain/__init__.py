"""The referrals domain: routing, lifecycle, deadlines — no I/O."""
