"""``python -m lambdash``: the same as the ``lambdash`` command."""

import sys

from lambdash.cli import console_main

sys.exit(console_main())
