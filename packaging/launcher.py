"""Entry script for the PyInstaller bundle: the same `infusion-prep` command as the installed one.

With no subcommand it opens the desktop program; with one (calc, prep, ...) it runs headless.
"""

import sys

from infusion_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
