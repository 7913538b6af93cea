"""``python -m moorage``: the ``moorage`` command (moorage.cli.main)."""

import sys

from moorage.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
