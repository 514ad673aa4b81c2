"""`python -m referrals api|worker`."""

from chassis.entrypoint import main
from referrals.bootstrap import create_api, create_worker

if __name__ == "__main__":
    main("referrals", create_api=create_api, create_worker=create_worker)
