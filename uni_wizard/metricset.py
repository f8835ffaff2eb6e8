"""One instance of a metrics set per Prometheus registry: the one rule every metrics set of the package follows.

prometheus-client refuses a second metric of the same name on one registry, so a set of metrics (a class whose
constructor creates its metrics on the registry it is given) must be created once per registry and then shared.
``MetricSet.for_registry`` does that, and takes the registry as prometheus-client itself does:
``registry: CollectorRegistry = REGISTRY``, the process's registry unless another is given (None is no sentinel).

    class ForgeMetrics(MetricSet):
        def __init__(self, registry: CollectorRegistry) -> None:
            super().__init__(registry)
            self.requests = Counter("uniwizard_forge_requests", "...", ["method"], registry=registry)

    ForgeMetrics.for_registry()             # the one ForgeMetrics of prometheus_client.REGISTRY
    ForgeMetrics.for_registry(registry)     # the one of ``registry`` (tests pass a fresh CollectorRegistry())

The sets are kept on the registry object itself, so they live exactly as long as it does: a module-level weak
map would keep every registry alive (each set holds its registry, and a weak map's values are strong).
"""

from __future__ import annotations

import threading
from typing import Self

from prometheus_client import REGISTRY, CollectorRegistry

__all__ = ["MetricSet"]

_SETS = "_uniwizard_metric_sets"  # the attribute of a registry that holds its sets, by class
_lock = threading.RLock()  # reentrant: a set's constructor may ask for another set of the same registry


class MetricSet:
    """Base of a set of metrics created together on one registry (see the module docstring).

    A subclass creates its metrics in ``__init__(self, registry)`` (after ``super().__init__(registry)``);
    callers never construct it, they ask ``for_registry``.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    @classmethod
    def for_registry(cls, registry: CollectorRegistry = REGISTRY) -> Self:
        """The one instance of this set on ``registry``, created (its metrics registered) on the first call."""
        with _lock:
            sets: dict[type[MetricSet], MetricSet] = vars(registry).setdefault(_SETS, {})
            found = sets.get(cls)
            if not isinstance(found, cls):
                found = sets[cls] = cls(registry)
            return found
