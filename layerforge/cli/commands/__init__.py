"""One module per family of commands; ``LazyGroup`` imports a module when one of its commands
is named (importing a module registers its commands)."""

from __future__ import annotations
