"""Which files a :class:`analytics.dataset.Dataset` query reads, and reading them again.

* Every query reads a table's live files (:func:`collector.live_files.live_files`);
  inside :meth:`Dataset.scoped` only those of a :class:`Scope`: a roll-up build of one
  evaluation window reads the batch files that hold its windows, not every file of the
  day (at a batch file a minute, 1,440 of them by midnight: the build's cost then grew
  through the day, ~5x by its end).
* A file deleted under a query (a compaction replaced it) makes the query list again and
  retry (:func:`_relisting`).

>>> Scope(("2025-10-09", "2025-10-09"), ("kws",), frozenset({"b-1.parquet"})).holds(
...     "b-1.parquet"), Scope(("a", "a"), (), frozenset()).holds("b-2.parquet")
(True, False)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from collector.live_files import live_files
from collector.parquet_files import COMPACTED_PREFIX
from collector.storage import Storage

from .errors import DatasetError

_RETRIES = 8
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Scope:
    """The files of these dates (inclusive ISO days) and models, and of them only the
    batches ``batches`` (file names: a batch has the same name in every table) and the
    compacted files (which may hold them)."""

    dates: tuple[str, str]
    models: tuple[str, ...]
    batches: frozenset[str]

    def holds(self, name: str) -> bool:
        return name in self.batches or name.startswith(COMPACTED_PREFIX)


def scoped_files(storage: Storage, table: str, scope: Scope | None) -> list[str]:
    """The live files of ``table``, only those of ``scope`` when given."""
    if scope is None:
        return live_files(storage, table)
    files = live_files(storage, table, scope.dates, scope.models)
    return [f for f in files if scope.holds(f.rsplit("/", 1)[-1])]


class _Vanished(Exception):
    """A file listed for a query was deleted before the query read it (a compaction)."""


def _relisting(method: _F) -> _F:
    """Run a query method again (a fresh listing) when a file it listed vanished."""
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(_RETRIES):
            try:
                return method(self, *args, **kwargs)
            except _Vanished as exc:
                if attempt == _RETRIES - 1:
                    raise DatasetError("dataset", self.root, "files that stay listed while "
                                       f"read ({exc.__cause__})") from None
                time.sleep(0.02 * 2 ** attempt)      # a compaction is deleting: let it pass
        raise AssertionError("unreachable")
    return run  # type: ignore[return-value]


__all__ = ["Scope", "scoped_files"]
