"""``python -m layerforge``."""

from layerforge.cli import main

raise SystemExit(main())
