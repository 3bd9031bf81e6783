"""Bit-exactness of the batched hashes against imagehash (golden values and live)."""

import json
from pathlib import Path

import numpy as np
import pytest

from polyclr.selection import hashing

GOLDEN = Path("/work/shared/golden")  # fallback
HERE_GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"  # copy of shared/golden


def _golden_dir() -> Path:
    for d in (HERE_GOLDEN, GOLDEN):
        if (d / "hashes.json").exists():
            return d
    pytest.skip("golden hashes not available")


def test_golden_hashes_bit_identical():
    d = _golden_dir()
    meta = json.loads((d / "hashes.json").read_text())
    images = np.load(d / "hashes.npz")
    for case in meta["cases"]:
        img = images[case["name"]]
        assert hashing.to_hex(hashing.dhash(img))[0] == case["dhash8"], case["name"]
        assert hashing.to_hex(hashing.ahash(img))[0] == case["ahash8"], case["name"]
        assert hashing.to_hex(hashing.phash(img))[0] == case["phash8"], case["name"]


def test_golden_hamming_pairs():
    d = _golden_dir()
    meta = json.loads((d / "hashes.json").read_text())
    images = np.load(d / "hashes.npz")
    for a, b, dist in meta["dhash_hamming_pairs"]:
        ha, hb = hashing.dhash(images[a]), hashing.dhash(images[b])
        assert int(hashing.hamming(ha, hb)[0]) == dist


@pytest.mark.parametrize("shape", [(64, 64), (256, 256), (33, 41), (9, 8), (8, 9), (5, 7),
                                   (300, 2), (2, 300), (50, 17), (1, 1), (100, 37)])
def test_live_imagehash_identical(shape):
    imagehash = pytest.importorskip("imagehash")
    from PIL import Image

    rng = np.random.default_rng(sum(shape))
    imgs = rng.integers(0, 256, size=(6, *shape), dtype=np.uint8)
    ramp = np.linspace(0, 255, shape[1])[None, :] + rng.normal(0, 20, size=shape)
    imgs[0] = np.clip(ramp, 0, 255).astype(np.uint8)
    imgs[1] = 0  # constant
    for ours, theirs in ((hashing.dhash, imagehash.dhash), (hashing.ahash, imagehash.average_hash),
                         (hashing.phash, imagehash.phash)):
        got = hashing.to_hex(ours(imgs))
        ref = [str(theirs(Image.fromarray(a))) for a in imgs]
        assert got == ref


def test_resize_matches_pillow_exactly():
    from PIL import Image

    rng = np.random.default_rng(0)
    for h, w, oh, ow in [(256, 256, 8, 9), (40, 90, 32, 32), (12, 7, 30, 3), (61, 22, 41, 18)]:
        imgs = rng.integers(0, 256, size=(3, h, w), dtype=np.uint8)
        ours = hashing.pil_resize_lanczos(imgs, ow, oh)
        ref = np.stack([np.asarray(Image.fromarray(a).resize((ow, oh), Image.LANCZOS)) for a in imgs])
        np.testing.assert_array_equal(ours, ref)


def test_hamming_popcount_closed_form():
    a = np.array([0, 0xFFFFFFFFFFFFFFFF, 0b1011, 1 << 63], dtype=np.uint64)
    b = np.array([0, 0, 0b0001, 1], dtype=np.uint64)
    np.testing.assert_array_equal(hashing.hamming(a, b), [0, 64, 2, 2])
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2**63, size=50, dtype=np.uint64)
    y = rng.integers(0, 2**63, size=50, dtype=np.uint64)
    naive = [bin(int(p) ^ int(q)).count("1") for p, q in zip(x, y, strict=True)]
    np.testing.assert_array_equal(hashing.hamming(x, y), naive)


def test_pack_unpack_roundtrip_msb_first():
    bits = np.zeros((1, 64), dtype=bool)
    bits[0, 0] = True  # first pixel -> most significant bit, as imagehash's hex
    assert hashing.to_hex(hashing.pack_bits(bits)) == ["8000000000000000"]
    rng = np.random.default_rng(2)
    b = rng.random((10, 64)) > 0.5
    np.testing.assert_array_equal(hashing.unpack_bits(hashing.pack_bits(b)), b)


def test_constant_images_hash_identically():
    z = np.zeros((3, 20, 30), dtype=np.uint8)
    z[1] = 7
    z[2] = 255
    h = hashing.dhash(z)
    assert len(set(h.tolist())) == 1 and int(h[0]) == 0


def test_to_uint8_minmax_and_nan():
    x = np.array([[0.0, 5.0], [10.0, 10.0]], dtype=np.float32)
    np.testing.assert_array_equal(hashing.to_uint8(x), [[0, 128], [255, 255]])
    np.testing.assert_array_equal(hashing.to_uint8(np.full((2, 2), 3.0)), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        hashing.to_uint8(np.array([[np.nan, 1.0]]))


def test_thread_pool_batches_give_identical_hashes():
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, size=(70, 40, 56), dtype=np.uint8)
    imgs[5] = 0  # an all-background image: every row is skipped
    imgs[6, :20] = 0  # half background
    one = hashing.hash_images(imgs, "dhash", batch_size=16, threads=1)
    two = hashing.hash_images(imgs, "dhash", batch_size=16, threads=2)
    whole = hashing.dhash(imgs)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, whole)


def test_padded_images_match_imagehash():
    """Zero padding around the content (columns left out of the int8 product) keeps hashes exact."""
    imagehash = pytest.importorskip("imagehash")
    from PIL import Image

    rng = np.random.default_rng(5)
    imgs = np.zeros((12, 96, 96), dtype=np.uint8)
    for i in range(12):
        (h0, w0), (h1, w1) = rng.integers(0, 40, 2), rng.integers(50, 96, 2)
        imgs[i, h0:h1, w0:w1] = rng.integers(0, 256, (h1 - h0, w1 - w0))
    imgs[3] = 0
    imgs[4, :, :8] = 200  # content only in the first word of every row
    for ours, theirs in ((hashing.dhash, imagehash.dhash), (hashing.phash, imagehash.phash)):
        assert hashing.to_hex(ours(imgs)) == [str(theirs(Image.fromarray(a))) for a in imgs]


@pytest.mark.parametrize(("n_out", "n_digits"), [(9, 3), (8, 3), (32, 3), (8, 4), (1, 1)])
def test_digit_recombination_kernels_match_closed_form(n_out, n_digits):
    """Each compiled specialisation recombines base-128 digit sums, adds the offset, rounds
    and clips like Pillow: clip((offset + sum_p d_p * 128**p + 2**21) >> 22, 0, 255); and
    ``round_scatter`` puts those values - 128 at stacked[image * n_out + j, y]."""
    pytest.importorskip("numba")
    from polyclr.selection._pillow_kernels import digit_kernels

    rng = np.random.default_rng(n_out * 10 + n_digits)
    prod = rng.integers(-2**14, 2**14, size=(6, n_out * n_digits)).astype(np.int32)
    offset = rng.integers(0, 2**28, size=n_out).astype(np.int64)
    acc = offset[None, :] + sum(prod[:, p * n_out:(p + 1) * n_out].astype(np.int64) << (7 * p)
                                for p in range(n_digits))
    expected = np.clip((acc + (1 << 21)) >> 22, 0, 255)
    round_digits, round_scatter = digit_kernels(n_out, n_digits, 7)
    out = np.empty((6, n_out), np.int32)
    round_digits(prod, offset, out)
    np.testing.assert_array_equal(out, expected)
    rows = np.array([0, 2, 3, 4, 7, 9], dtype=np.int64)  # height 4: images 0, 0, 0, 1, 1, 2
    stacked = np.zeros((3 * n_out, 4), np.int8)
    round_scatter(prod, offset, rows, 4, stacked)
    want = np.full((3 * n_out, 4), -128, np.int8)
    for i, r in enumerate(rows):
        want[(r // 4) * n_out:(r // 4 + 1) * n_out, r % 4] = expected[i] - 128
    np.testing.assert_array_equal(stacked, want)
