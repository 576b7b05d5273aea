"""Allow ``python -m edge_age``."""

from edge_age.cli import main

raise SystemExit(main())
