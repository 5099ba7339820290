"""The studio server's state, in one place: the work folder, the queue, the models kept loaded, what was
uploaded and asked for, the disk it may fill, and the progress streams open."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from dreamvid.errors import UserError
from dreamvid.render.resume import discard_state
from dreamvid.settings.files import settings_path
from dreamvid.studio import jobs
from dreamvid.studio.bounds import DEFAULT_MAX_STORAGE_MB, MAX_QUEUED, MAX_STREAMS, MAX_UPLOADS_AT_ONCE, Refused
from dreamvid.studio.queue import Job, RenderQueue
from dreamvid.studio.storage import Storage
from dreamvid.studio.uploads import Upload
from dreamvid.studio.workfolder import WorkFolder, is_id

EARLIER_RUNS = "earlier runs"  # the tab a previous run's files count against (no page can name it: tab ids are alphanumeric)
KEPT_JOBS = 2 * MAX_QUEUED  # finished jobs remembered (their results stay downloadable while on disk)


@dataclass
class Studio:
    """The server's state: the work folder, the queue, the models kept loaded, what was uploaded and asked."""

    folder: WorkFolder
    max_upload_bytes: int
    max_storage_bytes: int = int(DEFAULT_MAX_STORAGE_MB * 1e6)
    queue: RenderQueue = field(default_factory=RenderQueue)
    dreamers: jobs.Dreamers = field(default_factory=jobs.Dreamers)
    thumbnail_dreamers: jobs.Dreamers = field(default_factory=lambda: jobs.Dreamers(kept=1))
    uploads: dict[str, Upload] = field(default_factory=dict)
    jobs: OrderedDict[str, Job] = field(default_factory=OrderedDict)
    thumbnails: dict[str, Job] = field(default_factory=dict)  # thumbnail path -> its job, while dreaming
    streams: int = 0  # progress streams open
    receiving: int = 0  # uploads being received
    storage: Storage = field(init=False)

    def __post_init__(self) -> None:
        self.storage = Storage(self.max_storage_bytes)
        for stale in self.folder.uploads.glob("*.part"):  # uploads cut short by a previous run's end
            stale.unlink(missing_ok=True)
        self.adopt_earlier_files()

    def adopt_earlier_files(self) -> None:
        """A previous run's uploads and results, oldest first, under this run's quotas: the storage is counted
        in memory, so each run left its files outside every quota. A checkpoint a kill left is deleted (the
        studio never resumes)."""
        for stale in [*self.folder.results.glob("*.dreamvid-state"), *self.folder.results.glob(".*.discarded")]:
            discard_state(str(stale))
        earlier = [path for folder in (self.folder.uploads, self.folder.results) for path in folder.iterdir()
                   if path.is_file() and not path.is_symlink() and not path.name.endswith(".dreamvid.toml")]
        for path in sorted(earlier, key=lambda path: path.stat().st_mtime):
            sidecar = Path(settings_path(str(path)))
            self.storage.keep(path, EARLIER_RUNS, lambda sidecar=sidecar: sidecar.unlink(missing_ok=True))

    def job(self, job_id: str) -> Job:
        if not is_id(job_id) or job_id not in self.jobs:
            raise UserError("unknown job")
        return self.jobs[job_id]

    def add_job(self, job: Job) -> None:
        self.jobs[job.id] = job
        while len(self.jobs) > KEPT_JOBS and next(iter(self.jobs.values())).finished:
            self.jobs.popitem(last=False)

    def in_use(self) -> set[Path]:
        return {path for job in list(self.jobs.values()) if not job.finished for path in job.files}

    def keep_upload(self, upload: Upload, tab: str) -> None:
        self.uploads[upload.id] = upload
        self.storage.keep(self.folder.uploads / upload.filename, tab, lambda: self.uploads.pop(upload.id, None),
                          self.in_use())

    def keep_result(self, job: Job, path: Path) -> None:
        """A result under the quotas; pruned, it takes its settings sidecar with it (else one stays per render)."""
        sidecar = Path(settings_path(str(path)))
        self.storage.keep(path, job.client, lambda: sidecar.unlink(missing_ok=True), self.in_use())

    def open_stream(self) -> None:
        """Count one more progress stream open, or Refused when MAX_STREAMS are (each holds a connection). The
        check and the count are one step, with no await between them: requests that arrive together cannot
        all pass the check before any is counted. The caller must call close_stream once, however it ends."""
        if self.streams >= MAX_STREAMS:
            raise Refused(f"too many progress streams open ({MAX_STREAMS}): close a tab")
        self.streams += 1

    def close_stream(self) -> None:
        self.streams -= 1

    def open_upload(self) -> None:
        """Count one more upload being received, or Refused when MAX_UPLOADS_AT_ONCE are (as open_stream)."""
        if self.receiving >= MAX_UPLOADS_AT_ONCE:
            raise Refused(f"too many uploads at once ({MAX_UPLOADS_AT_ONCE}): wait for one to finish")
        self.receiving += 1

    def close_upload(self) -> None:
        self.receiving -= 1
