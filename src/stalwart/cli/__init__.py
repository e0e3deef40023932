"""The `stalwart` command: a live demo, a fault-injecting upstream, resilient requests.

```sh
stalwart demo                      # a naive client and a stalwart client, side by side
stalwart flaky --error-rate 0.2    # serve a flaky upstream on http://127.0.0.1:8080
stalwart get http://127.0.0.1:8080/orders/42 --deadline 5
```

It needs `rich` (`pip install 'stalwart[cli]'`); nothing else in stalwart imports it.
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["main"]

#: What the command prints, and nothing else, when rich is not installed.
RICH_MISSING = "the stalwart command needs rich: pip install 'stalwart[cli]'"


def main(argv: list[str] | None = None) -> int:
    """Run the `stalwart` command with `argv` (default: `sys.argv[1:]`); return its exit
    status: 0 success, 1 failure, 2 usage error, 130 interrupted (Ctrl-C), 141 stdout
    closed by its reader, and for `get`, `post` and `request` also 3, 4 and 5 (see
    `stalwart get --help`)."""
    try:
        try:
            import rich  # noqa: F401  (the one check: every command needs it)
        except ImportError:
            print(RICH_MISSING, file=sys.stderr)
            return 1
        from ._main import run

        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        # Ctrl-C is the user's decision, not a failure to report: no traceback.
        return 130
    except BrokenPipeError:
        # Whoever read stdout went away (`stalwart demo | head`): end as a writer killed by
        # SIGPIPE would, and keep Python from failing again on flushing stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
