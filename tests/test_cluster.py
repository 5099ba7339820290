"""Ray as a newcomer meets it (distributed/cluster.py, job_pool.py): its own log quiet unless --verbose,
and an output that exists refused before the cluster takes seconds to start. No cluster starts here."""

import logging

import pytest

from dreamvid.distributed import job_pool
from dreamvid.distributed.cluster import log_options
from dreamvid.errors import UserError


def test_rays_log_shows_only_when_dreamvid_is_verbose():
    logger = logging.getLogger("dreamvid")
    before = logger.level
    try:
        logger.setLevel(logging.WARNING)
        assert log_options() == {"logging_level": logging.ERROR, "log_to_driver": False}
        logger.setLevel(logging.INFO)
        assert log_options() == {"logging_level": logging.INFO, "log_to_driver": True}
    finally:
        logger.setLevel(before)


def test_the_cli_sets_the_verbosity(cat_path, tmp_path, monkeypatch):
    from dreamvid import cli

    seen = []
    monkeypatch.setattr(cli, "command_render", lambda args: seen.append(log_options()["log_to_driver"]) or 0)
    for extra in ([], ["--verbose"]):
        assert cli.run(["render", "job.toml", *extra]) == 0
    assert seen == [False, True]
    logging.getLogger("dreamvid").setLevel(logging.NOTSET)


def test_job_files_with_an_existing_output_are_refused_before_the_cluster_starts(tmp_path, monkeypatch):
    def no_cluster(*args, **kwargs):
        raise AssertionError("the cluster started")

    monkeypatch.setattr(job_pool, "connected", no_cluster)
    jobs = []
    for name, mode in (("a.png", "image"), ("b.mp4", "zoom")):
        (tmp_path / name).write_bytes(b"made earlier")
        job = tmp_path / f"{name}.dreamvid.toml"
        job.write_text(f'mode = "{mode}"\ninput = "in.jpg"\noutput = "{name}"\n')
        jobs.append(str(job))
    for path in jobs:
        with pytest.raises(UserError, match="exists"):
            job_pool.render_jobs([path, path], overwrite=False, resume=False, workers=2, address="")
    (tmp_path / "b.mp4").unlink()
    (tmp_path / "b.mp4.dreamvid-state").mkdir()  # an interrupted render: --resume or --overwrite
    with pytest.raises(UserError, match="interrupted render"):
        job_pool.render_jobs([jobs[1]], overwrite=False, resume=False, workers=2, address="")
