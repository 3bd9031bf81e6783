"""The fused AVX-512 VNNI horizontal pass: closed-form values and agreement with the int8 route."""

import numpy as np
import pytest

from polyclr.selection import hashing
from polyclr.selection import pillow_resize as pr

pytest.importorskip("numba")
vk = pytest.importorskip("polyclr.selection._vnni_kernel")
needs_vnni = pytest.mark.skipif(not vk.vnni_available(), reason="CPU without AVX-512 VNNI")


def test_pack_digits_layout_closed_form():
    """Group g, lane l holds digit row l's columns 4g..4g+3; padding lanes and columns are 0."""
    rows = np.arange(3 * 10, dtype=np.int8).reshape(3, 10)
    packed = vk.pack_digits(rows, halves=1)
    assert packed.shape == (3, 16, 4)
    for g in range(3):
        for lane in range(16):
            for i in range(4):
                col = 4 * g + i
                want = rows[lane, col] if lane < 3 and col < 10 else 0
                assert packed[g, lane, i] == want


def _pillow_rows(x: np.ndarray, out_size: int) -> np.ndarray:
    """Pillow's 8-bit pass in int64: clip((sum_k w[j, k] x[k] + 2**21) >> 22, 0, 255)."""
    weights, _ = pr.pillow_lanczos_coefficients(x.shape[-1], out_size)
    sums = x.astype(np.int64) @ weights.T
    return np.clip((sums + (1 << 21)) >> 22, 0, 255)


def _images(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    x = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    x[1] = 0  # all background: no live row
    x[2, : h // 2] = 0  # top half background
    x[3, :, : w // 4] = 0  # zero columns on both sides (narrower column groups)
    x[3, :, w - w // 4 :] = 0
    x[4, ::3] = 0  # scattered zero rows inside the image
    x[5, :, :] = 0
    x[5, h - 1, w - 1] = 255  # one live pixel, in the last word of the last row
    return x


@needs_vnni
@pytest.mark.parametrize(("h", "w", "out_size"), [(256, 256, 9), (256, 256, 8), (256, 256, 32),
                                                  (40, 56, 9), (9, 8, 9), (33, 64, 5), (17, 200, 9),
                                                  (12, 136, 32)])
def test_horizontal_pass_matches_pillow_closed_form(h, w, out_size):
    """``stacked[image * n_out + j, y]`` is Pillow's rounded output j of row y, minus 128, and
    -128 for all-zero rows; upsampling (8 -> 9: four digits) included."""
    rng = np.random.default_rng(h * w + out_size)
    x = _images(rng, 7, h, w)
    kernel, rows, packed = pr._vnni_plan(w, out_size)
    stacked = vk.horizontal_pass(x.reshape(-1, w), h, out_size, kernel, rows, packed)
    want = (_pillow_rows(x, out_size) - 128).astype(np.int8)  # (n, h, out)
    want[~x.any(axis=2)] = -128
    np.testing.assert_array_equal(stacked.reshape(7, out_size, h), want.transpose(0, 2, 1))


@needs_vnni
@pytest.mark.parametrize("method", ["dhash", "ahash", "phash"])
@pytest.mark.parametrize("shape", [(256, 256), (64, 64), (40, 56), (9, 8), (96, 96)])
def test_vnni_and_int8_routes_hash_identically(method, shape):
    rng = np.random.default_rng(sum(shape))
    x = _images(rng, 12, *shape)
    assert pr.vnni_route(shape[1], 9) and not pr.vnni_route(shape[1], 9, "portable")
    fast = hashing.hash_images(x, method, batch_size=5, threads=2, route="vnni")
    portable = hashing.hash_images(x, method, batch_size=5, threads=1, route="portable")
    np.testing.assert_array_equal(fast, portable)
    np.testing.assert_array_equal(fast, hashing.hash_images(x, method, batch_size=5))  # auto


def test_route_needs_whole_words():
    """Rows whose length is not a multiple of 8 bytes always take the int8 route; asking for
    VNNI there, or for an unknown route, is an error."""
    assert not pr.vnni_route(300, 9)
    assert not pr.vnni_route(37, 9)
    with pytest.raises(ValueError, match="VNNI route cannot run"):
        pr.vnni_route(37, 9, "vnni")
    with pytest.raises(ValueError, match="route must be one of"):
        pr.vnni_route(64, 9, "fast")
