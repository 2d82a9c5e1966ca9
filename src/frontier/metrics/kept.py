"""Counter and Histogram whose labelled children, once made, are kept in a plain dict.

prometheus_client's `labels()` checks the values, turns each into a string and takes a lock on every call,
and a request makes six such calls (status, duration, tokens, upstream latency). Kept, a repeat call is one
dict lookup. The label sets are the metric's own (route templates, served models, statuses), so the dict is
as small as they are.
"""

from __future__ import annotations

from typing import Any

import prometheus_client
from prometheus_client.metrics import MetricWrapperBase


class _KeptChildren(MetricWrapperBase):
    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> Any:
        if labelkwargs:
            return super().labels(*labelvalues, **labelkwargs)
        kept: dict[tuple[Any, ...], Any] = self.__dict__.setdefault("_kept", {})
        child = kept.get(labelvalues)
        if child is None:
            child = kept[labelvalues] = super().labels(*labelvalues)
        return child

    # A removed child must not be handed out again: it would count into a series no longer exported.
    def remove(self, *labelvalues: Any) -> None:
        self.__dict__.pop("_kept", None)
        super().remove(*labelvalues)

    def clear(self) -> None:
        self.__dict__.pop("_kept", None)
        super().clear()


class Counter(_KeptChildren, prometheus_client.Counter):
    pass


class Histogram(_KeptChildren, prometheus_client.Histogram):
    pass
