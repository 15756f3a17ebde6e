"""The grouped ANS coder of bitstream 3.x: lossless, the 2.x coder's rate, safe on garbage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dicodec import UnavailableError
from dicodec.codec import grouped_ans, rans
from dicodec.codec.latent_codec import SYMBOL_LIMIT


@pytest.fixture(scope="module")
def tables(tiny_codec) -> rans.CdfTables:
    return tiny_codec.latent_codec._coding_tables()[1]  # the Gaussian scale tables (64 of them)


def draw(tables: rans.CdfTables, n: int, seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Symbols roughly as their table predicts (scale ~ table index), plus a few far outliers."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, tables.num_tables, n)
    scale = np.exp(-2.5 + 0.125 * index)
    symbols = np.round(rng.normal(0, scale * spread)).astype(np.int64)
    outliers = rng.random(n) < 0.01
    symbols[outliers] = rng.integers(-SYMBOL_LIMIT, SYMBOL_LIMIT + 1, outliers.sum())
    return symbols, index


@pytest.mark.parametrize("n", [0, 1, 7, 5000])
def test_round_trip_with_escapes_both_ways(tables, n):
    symbols, index = draw(tables, n, seed=n)
    data = grouped_ans.encode(symbols, index, tables)
    assert np.array_equal(grouped_ans.decode(data, index, tables), symbols)


def test_extreme_symbols_and_shape(tables):
    index = np.array([[0, 63, 0], [63, 5, 5]])
    symbols = np.array([[SYMBOL_LIMIT, -SYMBOL_LIMIT, 0], [SYMBOL_LIMIT, -SYMBOL_LIMIT, 1]])
    out = grouped_ans.decode(grouped_ans.encode(symbols, index, tables), index, tables)
    assert out.shape == (2, 3) and np.array_equal(out, symbols)


def test_rate_matches_the_2x_coder(tables):
    """Same tables, same model: sizes agree within a few bytes (escapes coded slightly differently)."""
    rng = np.random.default_rng(3)
    index = rng.integers(0, tables.num_tables, 20000)
    symbols = np.round(rng.normal(0, np.exp(-2.5 + 0.125 * index))).astype(np.int64)
    new, old = grouped_ans.encode(symbols, index, tables), rans.encode(symbols, index, tables)
    assert abs(len(new) - len(old)) <= 0.01 * len(old) + 8


def test_strings_have_no_trailing_zero_bytes(tables):
    for seed in range(20):
        symbols, index = draw(tables, 50, seed=seed)
        data = grouped_ans.encode(symbols, index, tables)
        assert not data.endswith(b"\0")


def test_garbage_decodes_to_symbols_or_value_error(tables):
    rng = np.random.default_rng(5)
    index = rng.integers(0, tables.num_tables, 300)
    for length in list(range(0, 12)) + [37, 400]:
        for _ in range(20):
            data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
            try:
                out = grouped_ans.decode(data, index, tables)
            except ValueError:
                continue
            assert out.shape == index.shape and out.dtype == np.int64


def test_leftover_words_are_an_error(tables):
    symbols, index = draw(tables, 100, seed=1)
    data = grouped_ans.encode(symbols, index, tables)
    with pytest.raises(ValueError, match="left after"):
        grouped_ans.decode(data, index[:10], tables)


def test_index_out_of_range_is_a_programming_error(tables):
    with pytest.raises(ValueError, match="CDF index"):
        grouped_ans.encode(np.zeros(3), np.array([0, 1, 64]), tables)


def test_a_constriction_that_codes_differently_is_refused(monkeypatch, tables):
    grouped_ans._self_test.cache_clear()
    monkeypatch.setattr(grouped_ans, "_SELF_TEST_WORDS", (1, 2, 3))
    with pytest.raises(UnavailableError, match="constriction"):
        grouped_ans.encode(np.zeros(3), np.zeros(3, dtype=int), tables)
    monkeypatch.undo()
    grouped_ans._self_test.cache_clear()
    grouped_ans.encode(np.zeros(3), np.zeros(3, dtype=int), tables)


def test_latent_codec_with_either_coder_gives_the_same_latent(tiny_codec):
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(0))
    lc, cpu = tiny_codec.latent_codec, torch.device("cpu")
    gain, _ = tiny_codec.gains(torch.tensor([3.0]))
    y = tiny_codec.analysis(x) * gain
    latents = []
    for coder in (rans, grouped_ans):
        strings = lc.compress(y, coder)
        latents.append(lc.decompress(strings, (4, 6), cpu, coder=coder))
    assert torch.equal(*latents)


def test_tables_copy_and_pickle_after_use(tables):
    """A model is deep-copied (EMA, fine-tuning) after it coded: the coder's cache must not block that."""
    import copy
    import pickle

    symbols, index = draw(tables, 500, seed=3)
    data = grouped_ans.encode(symbols, index, tables)
    assert hasattr(tables, "_ans_models")
    for clone in (copy.deepcopy(tables), pickle.loads(pickle.dumps(tables))):
        assert not hasattr(clone, "_ans_models")
        assert np.array_equal(grouped_ans.decode(data, index, clone), symbols)
