"""Coordinator API of the referrals service."""
