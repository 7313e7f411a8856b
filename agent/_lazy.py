"""Lazy package attributes: a public name is imported from its module on first use, not with the package.

Importing ``envparity.agent`` (as the collector does for the wire format) must not
pull in the scheduler, NVML or the proxy's aiohttp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports each name from ``modules[name]`` when first asked."""

    def __getattr__(name: str) -> object:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(modules[name]), name)

    return __getattr__
