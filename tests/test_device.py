"""Which device a render runs on (CUDA > Apple's MPS > CPU), in what arithmetic, and how a missing op reads.

Availability is monkeypatched, so these run on any machine; no GPU is used."""

import pytest
import torch

from dreamvid.ascent import engine
from dreamvid.render.dreaming import FrameDreamer, build_engine
from dreamvid.errors import UserError
from dreamvid.nets.device import CPU_TILE, CUDA_TILE, auto_tile, autocast_dtype, pick_device
from dreamvid.settings import Resolved, merge

MPS = torch.device("mps")


@pytest.fixture
def available(monkeypatch):
    """Set which accelerators this machine pretends to have: available(cuda=..., mps=...)."""
    def pretend(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return pretend


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"),  # CUDA first: bf16 autocast and the larger tile make it the faster one
    (True, False, "cuda"),
    (False, True, "mps"),
    (False, False, "cpu"),
])
def test_auto_prefers_cuda_then_mps_then_the_cpu(available, cuda, mps, expected):
    available(cuda=cuda, mps=mps)
    assert pick_device("auto").type == expected


@pytest.mark.parametrize("name", ["cpu", "cuda", "mps"])
def test_a_named_device_that_is_present_is_used(available, name):
    available(cuda=True, mps=True)
    assert pick_device(name).type == name


@pytest.mark.parametrize("name, absent", [("mps", "Apple GPU"), ("cuda", "CUDA GPU")])
def test_asking_for_an_absent_device_is_a_one_line_user_error(available, name, absent):
    available(cuda=False, mps=False)
    with pytest.raises(UserError, match=absent) as raised:
        pick_device(name)
    assert "--device cpu" in str(raised.value) and "\n" not in str(raised.value)


def test_an_unknown_device_lists_the_allowed_ones():
    with pytest.raises(UserError, match="auto, cpu, cuda, mps"):
        pick_device("tpu")


@pytest.mark.parametrize("precision", ["auto", "fp32", "fp16", "bf16"])
def test_mps_runs_in_fp32_with_the_cpus_tile(precision):
    assert autocast_dtype(MPS, precision, bf16_supported=True) is None
    assert auto_tile(MPS, 0) == CPU_TILE != CUDA_TILE
    assert auto_tile(MPS, 512) == 512


def test_an_op_the_device_lacks_is_one_line_naming_the_way_out(lite0_blocks4, monkeypatch):
    def missing_op(*args, **kwargs):
        raise NotImplementedError("The operator 'aten::roll' is not currently implemented for the MPS device.\n"
                                  "If you want this op to be added in priority ... (a long second line)")

    monkeypatch.setattr(engine, "dream", missing_op)
    settings = Resolved(merge())
    dreamer = FrameDreamer(settings, build_engine(settings, net=lite0_blocks4))
    with pytest.raises(UserError) as raised:
        dreamer.dream(torch.zeros(1, 3, 32, 32))
    message = str(raised.value)
    assert "aten::roll" in message and "--device cpu" in message and "PYTORCH_ENABLE_MPS_FALLBACK=1" in message
    assert "\n" not in message and "second line" not in message
