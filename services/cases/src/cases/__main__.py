"""`python -m cases api|worker|all|migrate`, and the operator commands (`rotate-keys`, `import`,
`seed`)."""

import sys

from chassis.entrypoint import PROCESSES, main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in PROCESSES:
        main("cases")
    else:
        from cases.cli import app

        app(prog_name="python -m cases")
