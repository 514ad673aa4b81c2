"""`python -m reporting api|worker`."""

from chassis.entrypoint import main
from reporting.bootstrap import create_api, create_worker

if __name__ == "__main__":
    main("reporting", create_api=create_api, create_worker=create_worker)
