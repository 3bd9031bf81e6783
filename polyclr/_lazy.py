"""``lazy_module``: a stand-in that imports a module on its first attribute access.

The pipelines reach their training code (torch Lightning, several seconds to import) through
it, so ``polyclr`` reads and validates the data, and prints its first progress line, before
that import. A plain object, not an entry in ``sys.modules``: the standard library's
``importlib.util.LazyLoader`` puts a lazy module there, which ``inspect.getmodule`` (run by
torch while it registers operators) then triggers in the middle of another import.
"""

from __future__ import annotations

import importlib
from typing import Any


class lazy_module:  # noqa: N801  (used like a module)
    """Attribute access on this object is attribute access on module ``name``, imported then."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
