"""Renders one at a time, fair between tabs: each client (a page) has its own line of jobs, and the
worker takes the next job from the client served least recently (round-robin), so a tab with many
jobs queued never starves a tab with one. Thumbnails for the layer atlas are background work: they run only
when no page's job waits, so they never delay a Dream."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
import itertools
import logging
import threading
import time
from typing import Callable

from dreamvid.errors import UserError
from dreamvid.studio.workfolder import new_id

LOG = logging.getLogger("dreamvid.studio")
FINISHED = ("done", "failed", "cancelled")
SERIALS = itertools.count(1)


@dataclass
class Job:
    """One piece of work for the worker, and everything a page is told about it."""

    client: str
    kind: str  # preview | render | thumbnail
    work: Callable[["Job"], dict]  # runs on the worker thread; returns the result shown to the page
    background: bool = False
    id: str = field(default_factory=new_id)
    serial: int = 0  # submission order, set by the queue
    status: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    started: float = 0.0
    message: str = ""
    result: dict = field(default_factory=dict)
    frame: bytes | None = None  # the latest preview frame, JPEG
    frame_index: int = -1
    version: int = 0  # bumped on every change: event streams send only what changed
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1

    def report(self, done: int, total: int, frame: bytes | None = None) -> None:
        """Progress from the render; `frame` (JPEG) when there is a new picture to show."""
        changes = {"done": done, "total": total}
        if frame is not None:
            changes.update(frame=frame, frame_index=self.frame_index + 1)
        self.update(**changes)

    def should_stop(self) -> bool:
        return self.cancel_requested.is_set()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def eta(self) -> float | None:
        """Seconds left at the average rate so far (None until the first unit is done)."""
        if self.status != "running" or self.done <= 0 or self.total <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * (self.total - self.done)

    def snapshot(self) -> dict:
        with self._lock:
            return {"id": self.id, "kind": self.kind, "status": self.status, "done": self.done, "total": self.total,
                    "eta": self.eta(), "message": self.message, "frame": self.frame_index,
                    "result": self.result if self.finished else {}}


class RenderQueue:
    """The studio's single worker thread and the fair lines that feed it."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[Job]] = OrderedDict()
        self._changed = threading.Condition()
        self._running: Job | None = None
        self._served: dict[str, int] = {}  # client -> the turn it was last served in
        self._turn = 0
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="dreamvid-studio-worker", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Job:
        with self._changed:
            job.serial = next(SERIALS)
            self._lines.setdefault(job.client, deque()).append(job)
            self._changed.notify_all()
        return job

    def cancel(self, job: Job) -> None:
        """A queued job is dropped at once; a running one stops at its next step or frame."""
        job.cancel_requested.set()
        with self._changed:
            line = self._lines.get(job.client)
            if line and job in line:
                line.remove(job)
                job.update(status="cancelled", message="cancelled")

    def cancel_client(self, client: str, kind: str) -> None:
        """A new Dream from a page replaces its previous preview: nobody will look at the old one."""
        with self._changed:
            jobs = [*self._lines.get(client, ()), *([self._running] if self._running else [])]
        for job in jobs:
            if job.client == client and job.kind == kind and not job.finished:
                self.cancel(job)

    def order(self) -> list[Job]:
        """Queued jobs in the order the worker will take them, if nothing else arrives."""
        with self._changed:
            lines = {client: deque(line) for client, line in self._lines.items()}
            served, turn = dict(self._served), self._turn
        order = []
        while (job := next_job(lines, served)) is not None:
            lines[job.client].remove(job)
            turn += 1
            served[job.client] = turn
            order.append(job)
        return order

    def position(self, job: Job) -> int:
        """How many jobs run before this one (the running job included)."""
        order = self.order()
        ahead = order.index(job) if job in order else 0
        return ahead + (1 if self._running is not None and self._running is not job else 0)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            for line in self._lines.values():
                for job in line:
                    job.cancel_requested.set()
            self._changed.notify_all()
        if self._running:
            self._running.cancel_requested.set()
        self._thread.join(timeout=30)

    def _take(self) -> Job | None:
        """The next job (see `next_job`); its client becomes the most recently served."""
        with self._changed:
            while not self._closing:
                job = next_job(self._lines, self._served)
                if job is not None:
                    self._lines[job.client].remove(job)
                    self._turn += 1
                    self._served[job.client] = self._turn
                    self._running = job
                    return job
                self._changed.wait()
            return None

    def _work(self) -> None:
        while (job := self._take()) is not None:
            run_job(job)
            with self._changed:
                self._running = None


def next_job(lines: dict[str, deque[Job]], served: dict[str, int]) -> Job | None:
    """Round-robin: the page job of the client served least recently (never served first; ties go to the
    job that came first); background work only when no page job waits."""
    for background in (False, True):
        firsts = [next((job for job in line if job.background == background), None) for line in lines.values()]
        waiting = [job for job in firsts if job is not None]
        if waiting:
            return min(waiting, key=lambda job: (served.get(job.client, 0), job.serial))
    return None


def run_job(job: Job) -> None:
    """Run one job; whatever happens, it ends done, failed (with a one-line message) or cancelled."""
    job.update(status="running", started=time.monotonic())
    try:
        result = job.work(job)
    except Exception as error:  # noqa: BLE001 - every failure must reach the page, not kill the worker
        if job.should_stop():
            job.update(status="cancelled", message="cancelled")
        elif isinstance(error, UserError):
            job.update(status="failed", message=str(error))
        else:
            LOG.exception("job %s failed", job.id)
            job.update(status="failed", message=f"internal error: {type(error).__name__}: {error}")
        return
    job.update(status="cancelled" if job.should_stop() else "done", result=result,
               message="cancelled" if job.should_stop() else "")
