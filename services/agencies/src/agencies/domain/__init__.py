"""What an officer may do with a referral in the agency's inbox — no I/O."""
