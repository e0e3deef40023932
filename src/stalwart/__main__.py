"""`python -m stalwart ...` runs the `stalwart` command."""

from .cli import main

raise SystemExit(main())
