import sys

from services.supervision.bootstrap import SPEC
from shared.runtime.service import run

if __name__ == "__main__":
    if len(sys.argv) > 1:  # a tool, e.g. `verify CASE_ID`
        from services.supervision.cli import cli

        cli()
    else:
        run(SPEC)
