"""`python -m cases api|worker`."""

from cases.bootstrap import create_api, create_worker
from chassis.entrypoint import main

if __name__ == "__main__":
    main("cases", create_api=create_api, create_worker=create_worker)
