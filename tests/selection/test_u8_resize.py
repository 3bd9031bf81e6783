"""The uint8 x int8 (oneDNN quantized linear) resize backend against Pillow and the int8 path."""

import numpy as np
import pytest

from polyclr.selection import u8_resize
from polyclr.selection.pillow_resize import _pil_loop, _resample_hv, pillow_lanczos_coefficients

needs_u8 = pytest.mark.skipif(not u8_resize.available(), reason="oneDNN u8 x s8 linear not exact/available here")


def test_digits_recombine_and_stay_saturation_safe():
    w = pillow_lanczos_coefficients(256, 9)[0]
    d = u8_resize.digits(w).astype(np.int64)
    n = d.shape[0] // w.shape[0]
    assert np.abs(d).max() <= 63  # 2 * 255 * 63 < 2**15: no int16 saturation without VNNI
    rebuilt = sum(d[p * w.shape[0]:(p + 1) * w.shape[0]] << (u8_resize.DIGIT_BITS * p) for p in range(n))
    assert np.array_equal(rebuilt, w)
    assert np.array_equal(u8_resize.digits(np.array([[-62 * 64, 62 * 64, 5]])).astype(np.int64)[-1],
                          [-62, 62, 0])


@needs_u8
@pytest.mark.parametrize("shape,size", [((5, 256, 256), (9, 8)), ((3, 100, 77), (8, 8)),
                                        ((2, 33, 40), (9, 8)), ((2, 512, 300), (16, 16))])
def test_u8_backend_equals_pillow_and_int8_path(shape, size):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(0, 256, size=shape, dtype=np.uint8)
    x[0] = 255  # the largest sums
    x[1, : shape[1] // 3] = 0  # background rows
    width, height = size
    u8 = _resample_hv(x, width, height, backend="u8")
    assert np.array_equal(u8, _pil_loop(x, width, height))
    assert np.array_equal(u8, _resample_hv(x, width, height, backend="int8"))


def test_eligibility_guards_exactness_and_size():
    # float32 holds digit sums exactly only up to 2**24: very long filters are not eligible
    assert not u8_resize.PackedDigits(np.ones((1, 2000), dtype=np.int64) * 63).exact
    assert not u8_resize.eligible(256, 256, 32, 32)  # pHash's 32 x 32: the int8 path
    if u8_resize.available():
        assert u8_resize.eligible(256, 256, 8, 9)


def test_auto_falls_back_when_unavailable(monkeypatch):
    monkeypatch.setattr(u8_resize, "available", lambda: False)
    x = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64), dtype=np.uint8)
    assert not u8_resize.eligible(64, 64, 8, 9)
    assert np.array_equal(_resample_hv(x, 9, 8), _pil_loop(x, 9, 8))


def test_hash_images_same_hashes_with_every_backend():
    from polyclr.selection import hashing

    x = np.random.default_rng(3).integers(0, 256, size=(70, 64, 80), dtype=np.uint8)
    x[5] = 0
    for method in ("dhash", "ahash", "phash"):
        ref = hashing.hash_images(x, method, batch_size=32, threads=2, backend="int8")
        assert np.array_equal(ref, hashing.hash_images(x, method, batch_size=32, threads=2))
        if u8_resize.available():
            assert np.array_equal(ref, hashing.hash_images(x, method, batch_size=32, threads=1, backend="u8"))
    with pytest.raises(ValueError, match="backend"):
        hashing.pil_resize_lanczos(x[:1], 9, 8, backend="gpu")
