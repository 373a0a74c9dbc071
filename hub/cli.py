"""The ``smshub`` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``smshub`` console script."""
    args = sys.argv[1:] if argv is None else argv
    print("smshub: the hub runtime is not assembled yet; commands:", args, file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
