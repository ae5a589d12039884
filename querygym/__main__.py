"""``python -m querygym`` runs the command-line tool."""

import sys

from querygym.cli import main

if __name__ == "__main__":
    sys.exit(main())
