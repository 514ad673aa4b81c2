"""Events of the referrals service."""
