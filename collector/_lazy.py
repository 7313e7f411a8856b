"""Lazy package attributes of the collector: a public name is imported from its module on first use.

``parity`` and ``store`` re-export their public names this way, so that importing a
light module (``parity.windows``, ``store.file_reader``) does not import the heavy ones
(SQLAlchemy, the statistics). The agent has its own ``envparity.agent._lazy``: the
collector imports only the wire format and the metric catalogue from the agent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``modules[module]`` comes from ``package.module``."""
    module_of = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)

    return __getattr__
