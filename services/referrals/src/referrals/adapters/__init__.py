"""Tables and policy loading of the referrals service."""
