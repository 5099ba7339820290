"""The disk the pages may fill: uploads and results, oldest first, under a total quota and a per-tab share.
Past a tab's share its own oldest files go; past the total, anyone's oldest go; a file that a queued or
running job reads is kept. What is pruned is forgotten by the studio too (its upload id, its result)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
import threading
from typing import Callable, Iterable

from dreamvid.studio.bounds import MAX_FILES, TAB_SHARE


@dataclass(frozen=True)
class Stored:
    path: Path
    size: int
    tab: str
    forget: Callable[[], None]  # tells the studio the file is gone (an upload id, a job's result)


class Storage:
    """The stored files in the order they came; `keep` adds one and prunes what is over the quotas."""

    def __init__(self, total_bytes: int, max_files: int = MAX_FILES):
        self.total_bytes, self.max_files = total_bytes, max_files
        self.tab_bytes = int(total_bytes * TAB_SHARE)
        self._files: OrderedDict[Path, Stored] = OrderedDict()
        self._used = 0
        self._per_tab: dict[str, int] = {}
        self._lock = threading.Lock()

    def keep(self, path: Path, tab: str, forget: Callable[[], None], in_use: Iterable[Path] = ()) -> None:
        stored = Stored(path, path.stat().st_size, tab, forget)
        with self._lock:
            self._files[path] = stored
            self._used += stored.size
            self._per_tab[tab] = self._per_tab.get(tab, 0) + stored.size
            busy = {*in_use, path}
            self._prune(lambda: self._per_tab.get(tab, 0) > self.tab_bytes, busy, tab)
            self._prune(lambda: self._used > self.total_bytes or len(self._files) > self.max_files, busy, None)

    def used(self, tab: str | None = None) -> int:
        with self._lock:
            return self._used if tab is None else self._per_tab.get(tab, 0)

    def _prune(self, over: Callable[[], bool], busy: set, tab: str | None) -> None:
        for stored in list(self._files.values()):
            if not over():
                return
            if stored.path in busy or (tab is not None and stored.tab != tab):
                continue
            del self._files[stored.path]
            self._used -= stored.size
            self._per_tab[stored.tab] -= stored.size
            if not self._per_tab[stored.tab]:
                del self._per_tab[stored.tab]
            stored.path.unlink(missing_ok=True)
            stored.forget()
