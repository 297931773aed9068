"""``python -m kale_like`` is the ``kale-like`` command."""

from .cli import main

raise SystemExit(main())
