"""Lazy import of optional dependencies with an actionable message."""

from __future__ import annotations

import importlib
from types import ModuleType

from polyclr.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install.

    Args:
        module: dotted module name, e.g. ``"monai.networks.nets"``.
        extra: the polyclr extra that provides it, e.g. ``"volume"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(
            f"{module} is not installed (needed here); install it with: pip install 'polyclr[{extra}]'"
            f" ({exc})"
        ) from exc
