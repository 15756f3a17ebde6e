"""codec/heap.py: the allocator settings are applied once per outermost use and always restored."""

from __future__ import annotations

import pytest
import torch

import dicodec
from dicodec.codec import heap


@pytest.fixture()
def recorded(monkeypatch):
    """Record the mallopt / malloc_trim calls (still made, on glibc, so the settings really apply)."""
    calls: list = []
    real = heap._GLIBC

    def mallopt(param, value):
        calls.append((param, value))
        return real[0](param, value) if real else 1

    def trim(pad):
        calls.append("trim")
        return real[1](pad) if real else 1

    monkeypatch.setattr(heap, "_GLIBC", (mallopt, trim))
    return calls


RETAIN = [(heap._M_TRIM_THRESHOLD, heap._RETAIN_TRIM_THRESHOLD), (heap._M_MMAP_MAX, 0)]
RESTORE = [
    (heap._M_MMAP_MAX, heap._DEFAULT_MMAP_MAX),
    (heap._M_TRIM_THRESHOLD, heap._DEFAULT_TRIM_THRESHOLD),
    "trim",
]


def test_nested_uses_count_as_one_and_restore(recorded):
    with heap.retained_heap():
        with heap.retained_heap():
            buffer = torch.ones(2**23)  # 32 MB: from the heap, not mmap, while retained
            del buffer
        assert recorded == RETAIN  # the inner exit restores nothing
    with heap.retained_heap(enabled=False):
        pass
    assert recorded == RETAIN + RESTORE


def test_restored_after_an_error(recorded):
    with pytest.raises(ValueError):
        with heap.retained_heap():
            raise ValueError("boom")
    assert recorded == RETAIN + RESTORE


def test_a_batch_decode_retains_once_for_all_images(recorded, tiny_model_name):
    codec = dicodec.Codec(tiny_model_name, device="cpu")
    image = (torch.rand(40, 50, 3) * 255).to(torch.uint8).numpy()
    data = codec.encode(image, quality=50)
    recorded.clear()
    results = list(codec.decode_many([data, data, data], mode="fast"))
    assert all(r.ok for r in results)
    assert recorded == RETAIN + RESTORE  # not once per image


def test_available_on_this_platform_is_a_bool():
    assert isinstance(heap.available(), bool)
