"""How the tools in tools/ end on a user's mistake: one line on stderr and exit status 2.

A wrong path, a file that is not a notebook, a changed recipe refused by its checkpoint: the
person at the terminal needs the message, not forty lines of traceback above it. cnnlib's own
errors (``CheckpointError``, ``PretrainedError``, ``CacheDirError``, every bad-input check) are
``ValueError``s, and a missing or unreadable file is an ``OSError``; anything else is a bug and
keeps its traceback.

    if __name__ == "__main__":
        from cli import run  # this file, beside the tool
        sys.exit(run(main))
"""
from __future__ import annotations

import sys

USER_ERRORS = (ValueError, OSError)
USAGE_ERROR = 2  # as argparse exits on a bad command line


def run(main, argv=None) -> int:
    """``main(argv)``'s exit status (0 when it returns no number); a user's mistake is printed
    as ``error: ...`` on stderr and gives 2."""
    try:
        status = main(argv)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    return status if isinstance(status, int) else 0
