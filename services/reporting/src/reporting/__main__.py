"""`python -m reporting api|worker|all|migrate`."""

from chassis.entrypoint import main

if __name__ == "__main__":
    main("reporting")
