"""`AGENCY=police python -m agencies api|worker`."""

from agencies.bootstrap import create_api, create_worker
from chassis.entrypoint import main

if __name__ == "__main__":
    main("agencies", create_api=create_api, create_worker=create_worker)
