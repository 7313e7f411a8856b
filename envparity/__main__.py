"""``python -m envparity``: the command line."""

from envparity.cli import main

raise SystemExit(main())
