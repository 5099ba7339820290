"""The studio server's state, in one place: the work folder, the queue, the models kept loaded, and what
was uploaded and asked for."""

from __future__ import annotations

from dataclasses import dataclass, field

from dreamvid.errors import UserError
from dreamvid.studio import jobs
from dreamvid.studio.queue import Job, RenderQueue
from dreamvid.studio.uploads import Upload
from dreamvid.studio.workfolder import WorkFolder, is_id


@dataclass
class Studio:
    """The server's state: the work folder, the queue, the models kept loaded, what was uploaded and asked."""

    folder: WorkFolder
    max_upload_bytes: int
    queue: RenderQueue = field(default_factory=RenderQueue)
    dreamers: jobs.Dreamers = field(default_factory=jobs.Dreamers)
    thumbnail_dreamers: jobs.Dreamers = field(default_factory=lambda: jobs.Dreamers(kept=1))
    uploads: dict[str, Upload] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    thumbnails: dict[str, Job] = field(default_factory=dict)  # thumbnail path -> its job, while dreaming

    def job(self, job_id: str) -> Job:
        if not is_id(job_id) or job_id not in self.jobs:
            raise UserError("unknown job")
        return self.jobs[job_id]
