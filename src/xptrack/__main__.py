"""``python -m xptrack``: the ``xptrack`` command."""

from xptrack.application.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
