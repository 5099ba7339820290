"""The studio's jobs, fair between tabs, and a preview never stuck behind a render. Two lanes, each with
one worker thread: previews (a Dream), and renders. A render pauses at its next step or frame while a
preview runs or waits, so a Dream in one tab waits at most one frame of another tab's render. Within a
lane each client (a tab) has its own line, and the worker takes the next job of the client served least
recently (round-robin), so a tab with many jobs never starves a tab with one. Thumbnails for the layer
atlas are background work: they run only when no page's job waits or runs. Every operation costs
O(log n) in the clients waiting: no walk over the queue."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
import itertools
import logging
import threading
import time
from typing import Callable

from sortedcontainers import SortedList

from dreamvid.errors import UserError
from dreamvid.studio.bounds import MAX_QUEUED, MAX_QUEUED_PER_TAB, Refused
from dreamvid.studio.workfolder import new_id

LOG = logging.getLogger("dreamvid.studio")
FINISHED = ("done", "failed", "cancelled")
SERIALS = itertools.count(1)
KEPT_TURNS = 10_000  # clients whose last turn is remembered (a forgotten one counts as new: it goes first)


@dataclass
class Job:
    """One piece of work for a worker, and everything a page is told about it."""

    client: str
    kind: str  # preview | render | thumbnail
    work: Callable[["Job"], dict]  # runs on a worker thread; returns the result shown to the page
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
    files: tuple = ()  # the stored files the job reads: kept while it is queued or running
    pause: Callable[["Job"], None] | None = None  # called at each step or frame: where a render gives way
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
        if self.pause is not None:
            self.pause(self)

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


class Lines:
    """One lane's queued page jobs: a line per client, taken round-robin. `levels[k]` holds, sorted by turn,
    the clients with more than k jobs waiting; the next job is the first client's of `levels[0]`, and a job's
    position is counted from the levels' sizes (no walk over the queue)."""

    def __init__(self, depth: int):
        self.lines: dict[str, deque[Job]] = {}
        self.levels = [SortedList() for _ in range(depth)]
        self.served: OrderedDict[str, int] = OrderedDict()  # client -> the turn it was last served in
        self.turn = 0
        self.count = 0

    def key(self, client: str) -> tuple:
        """Least recently served first; clients never served before all others, by their first job."""
        line = self.lines[client]
        return (self.served.get(client, 0), line[0].serial if line else 0, client)

    def change(self, client: str, edit: Callable[[deque], object]) -> object:
        """Apply `edit` to the client's line, keeping the levels in step."""
        line = self.lines.setdefault(client, deque())
        old_key, old_length = self.key(client), len(line)
        answer = edit(line)
        for level in self.levels[:old_length]:
            level.remove(old_key)
        new_key = self.key(client)
        for level in self.levels[:len(line)]:
            level.add(new_key)
        self.count += len(line) - old_length
        if not line:
            del self.lines[client]
        return answer

    def add(self, job: Job) -> None:
        self.change(job.client, lambda line: line.append(job))

    def remove(self, job: Job) -> bool:
        line = self.lines.get(job.client)
        if line is None or job not in line:
            return False
        self.change(job.client, lambda line: line.remove(job))
        return True

    def take(self) -> Job | None:
        if not self.levels[0]:
            return None
        client = self.levels[0][0][2]
        self.turn += 1
        job = self.change(client, lambda line: (self.served.__setitem__(client, self.turn), line.popleft())[1])
        self.served.move_to_end(client)
        while len(self.served) > KEPT_TURNS:
            self.served.popitem(last=False)
        return job

    def ahead(self, job: Job) -> int:
        """How many queued jobs of this lane are taken before `job`."""
        line = self.lines.get(job.client, ())
        if job not in line:
            return 0
        k = line.index(job)
        return sum(len(level) for level in self.levels[:k]) + self.levels[k].bisect_left(self.key(job.client))

    def queued(self, client: str) -> int:
        return len(self.lines.get(client, ()))

    def jobs_of(self, client: str) -> list[Job]:
        return list(self.lines.get(client, ()))


class RenderQueue:
    """The studio's two worker threads (previews, renders) and the fair lines that feed them."""

    def __init__(self, per_tab: int = MAX_QUEUED_PER_TAB, total: int = MAX_QUEUED) -> None:
        self.per_tab, self.total = per_tab, total
        self._lanes = {"preview": Lines(per_tab), "render": Lines(per_tab)}
        self._background: deque[Job] = deque()
        self._running: dict[str, Job | None] = {"preview": None, "render": None}
        self._changed = threading.Condition()
        self._closing = False
        self._threads = [threading.Thread(target=self._work, args=(lane,), name=f"dreamvid-studio-{lane}",
                                          daemon=True) for lane in self._lanes]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def lane_of(job: Job) -> str:
        return "render" if job.kind == "render" else "preview"

    def submit(self, job: Job) -> Job:
        """Queue a job; a page past its share of the queue, or a full queue, is refused (Refused)."""
        with self._changed:
            if not job.background:
                queued = sum(lines.queued(job.client) for lines in self._lanes.values())
                if queued >= self.per_tab:
                    raise Refused(f"this tab already has {queued} jobs waiting (at most {self.per_tab}): "
                                  "wait for one or cancel")
                if sum(lines.count for lines in self._lanes.values()) >= self.total:
                    raise Refused(f"the studio's queue is full ({self.total} jobs): try again later")
            job.serial = next(SERIALS)
            if self.lane_of(job) == "render":
                job.pause = self._give_way
            if job.background:
                self._background.append(job)
            else:
                self._lanes[self.lane_of(job)].add(job)
            self._changed.notify_all()
        return job

    def cancel(self, job: Job) -> None:
        """A queued job is dropped at once; a running one stops at its next step or frame."""
        job.cancel_requested.set()
        with self._changed:
            dropped = self._lanes[self.lane_of(job)].remove(job)
            if job.background and job in self._background:
                self._background.remove(job)
                dropped = True
            if dropped:
                job.update(status="cancelled", message="cancelled")
            self._changed.notify_all()

    def cancel_client(self, client: str, kind: str) -> None:
        """A new Dream from a page replaces its previous preview: nobody will look at the old one."""
        lane = "render" if kind == "render" else "preview"
        with self._changed:
            jobs = [*self._lanes[lane].jobs_of(client), self._running[lane]]
        for job in jobs:
            if job is not None and job.client == client and job.kind == kind and not job.finished:
                self.cancel(job)

    def position(self, job: Job) -> int:
        """How many jobs run before this one in its lane (the running one included)."""
        with self._changed:
            lane = self.lane_of(job)
            running = self._running[lane]
            if job.background:
                ahead = self._lanes["preview"].count + (self._background.index(job) if job in self._background else 0)
            else:
                ahead = self._lanes[lane].ahead(job)
            return ahead + (1 if running is not None and running is not job else 0)

    def order(self, lane: str) -> list[Job]:
        """A lane's queued page jobs in the order its worker will take them, if nothing else arrives."""
        with self._changed:
            return sorted(itertools.chain.from_iterable(self._lanes[lane].lines.values()), key=self.position)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            for job in [*self._background, *(job for lines in self._lanes.values() for line in lines.lines.values()
                                             for job in line), *self._running.values()]:
                if job is not None:
                    job.cancel_requested.set()
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    def _previews_busy(self) -> bool:
        running = self._running["preview"]
        return self._lanes["preview"].count > 0 or (running is not None and not running.background)

    def _give_way(self, job: Job) -> None:
        """A render's pause at a step or frame: while a preview runs or waits, it goes first."""
        with self._changed:
            if not self._previews_busy():
                return
            said = job.message
            job.update(message="paused: a Dream goes first")
            while self._previews_busy() and not (job.should_stop() or self._closing):
                self._changed.wait()
            job.update(message=said)

    def _next(self, lane: str) -> Job | None:
        if lane == "render":
            return None if self._previews_busy() else self._lanes["render"].take()
        job = self._lanes["preview"].take()
        renders_idle = self._running["render"] is None and self._lanes["render"].count == 0
        if job is None and self._background and renders_idle:
            job = self._background.popleft()
        return job

    def _take(self, lane: str) -> Job | None:
        with self._changed:
            while not self._closing:
                job = self._next(lane)
                if job is not None:
                    self._running[lane] = job
                    return job
                self._changed.wait()
            return None

    def _work(self, lane: str) -> None:
        while (job := self._take(lane)) is not None:
            run_job(job)
            with self._changed:
                self._running[lane] = None
                self._changed.notify_all()


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
