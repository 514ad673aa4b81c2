"""`python -m notifications api|worker|all|migrate`."""

from chassis.entrypoint import main

if __name__ == "__main__":
    main("notifications")
