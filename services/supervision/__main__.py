from services.supervision.bootstrap import SPEC
from shared.runtime.service import run

if __name__ == "__main__":
    run(SPEC)
