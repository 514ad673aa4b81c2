"""`python -m cases api|worker|migrate`, and the operator commands (`rotate-keys`, `import`,
`seed`)."""

import sys

from cases.bootstrap import create_api, create_worker
from chassis.entrypoint import main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in {"api", "worker", "migrate"}:
        main("cases", create_api=create_api, create_worker=create_worker)
    else:
        from cases.cli import app

        app(prog_name="python -m cases")
