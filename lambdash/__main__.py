"""``python -m lambdash`` runs the command-line tool."""

from lambdash.cli import main

raise SystemExit(main())
