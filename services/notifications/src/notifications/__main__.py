"""`python -m notifications api|worker`."""

from chassis.entrypoint import main
from notifications.bootstrap import create_api, create_worker

if __name__ == "__main__":
    main("notifications", create_api=create_api, create_worker=create_worker)
