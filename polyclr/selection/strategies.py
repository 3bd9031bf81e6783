"""The selection strategies behind :func:`polyclr.selection.select_items`.

Each strategy returns per item (input order): ``kept`` (bool), ``score`` (float, NaN where
nothing was compared) and ``ref`` (index of the kept item it was compared with, -1 if none).
The greedy walks that turn pairwise similarities into a selection are written here because
they are specific to this method (no library implements "drop if similar to any earlier
kept item"); the similarities themselves come from libraries: popcount (numpy), faiss or
scikit-learn nearest-neighbour indexes, MONAI's SSIM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from polyclr.errors import DataError
from polyclr.selection import hashing

DENSE_MAX = 4096  # default: scopes up to this size use a dense pairwise matrix (exact, BLAS/popcount)


# ----------------------------------------------------------------------------- helpers
def _scopes(order: np.ndarray, scope_ids: np.ndarray) -> list[np.ndarray]:
    """Members of each scope, in visiting order."""
    ordered_scopes = scope_ids[order]
    out = []
    for s in np.unique(ordered_scopes):
        out.append(order[ordered_scopes == s])
    return out


def as_uint8_items(data: Any, groups: np.ndarray, intensity: str) -> list[np.ndarray] | np.ndarray:
    """Turn items into uint8 2D images (N, H, W) (or a list when sizes differ).

    Non-uint8 inputs are scaled linearly to [0, 255] with the min/max of the item's group
    (``intensity="group"``), of the item (``"item"``), or clipped as is (``"none"``).
    """
    if intensity not in ("group", "item", "none"):
        raise ValueError(f"intensity must be group, item or none, got {intensity!r}")
    items = list(data) if not isinstance(data, np.ndarray) else data
    if isinstance(items, np.ndarray) and items.dtype == np.uint8 and items.ndim == 3:
        return items
    arrays = [np.asarray(a) for a in items]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise DataError(None, f"item {i} has shape {a.shape}; image methods need 2D items")
        if a.dtype != np.uint8 and a.size and not np.all(np.isfinite(a)):
            raise DataError(None, f"item {i} contains NaN or Inf values")
        if a.size == 0:
            raise DataError(None, f"item {i} is empty")
    out: list[np.ndarray] = [None] * len(arrays)  # type: ignore[list-item]
    if intensity == "group":
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            lo = min(float(arrays[i].min()) for i in idx)
            hi = max(float(arrays[i].max()) for i in idx)
            for i in idx:
                out[i] = arrays[i] if arrays[i].dtype == np.uint8 else hashing.to_uint8(arrays[i], lo, hi)
    elif intensity == "item":
        out = [a if a.dtype == np.uint8 else hashing.to_uint8(a) for a in arrays]
    else:
        out = [np.clip(np.rint(a), 0, 255).astype(np.uint8) for a in arrays]
    if len({a.shape for a in out}) == 1:
        return np.stack(out)
    return out


def hash_items(images: np.ndarray | list[np.ndarray], method: str) -> np.ndarray:
    """Hash uint8 items, batching items of equal shape. Shape: (N,) uint64."""
    if isinstance(images, np.ndarray):
        return hashing.hash_images(images, method)
    codes = np.zeros(len(images), dtype=np.uint64)
    shapes: dict[tuple, list[int]] = {}
    for i, a in enumerate(images):
        shapes.setdefault(a.shape, []).append(i)
    for idx in shapes.values():
        codes[idx] = hashing.hash_images(np.stack([images[i] for i in idx]), method)
    return codes


def _greedy_dense(members: np.ndarray, close: np.ndarray, value: np.ndarray, better_low: bool,
                  kept: np.ndarray, score: np.ndarray, ref: np.ndarray) -> None:
    """Greedy over a dense (m, m) matrix: drop an item if ``close`` to any earlier kept item.

    Only the keep/drop decisions are sequential; the score and reference (the most similar
    earlier kept item, first on ties) are computed afterwards in one vectorised step: since
    ``close`` is a threshold on ``value``, a dropped item's best earlier kept item is close.
    """
    m = len(members)
    kept_local = np.zeros(m, dtype=bool)
    for a in range(m):
        kept_local[a] = not np.any(close[a, :a] & kept_local[:a])
    earlier = np.tri(m, m, -1, dtype=bool) & kept_local[None, :]
    fill = np.inf if better_low else -np.inf
    v = np.where(earlier, value, fill)
    best = np.argmin(v, axis=1) if better_low else np.argmax(v, axis=1)
    has = earlier.any(axis=1)
    rows = np.flatnonzero(has)
    score[members[rows]] = v[rows, best[rows]]
    ref[members[rows]] = members[best[rows]]
    kept[members[kept_local]] = True


def _greedy_pairs(members: np.ndarray, pi: np.ndarray, pj: np.ndarray, pv: np.ndarray,
                  better_low: bool, kept: np.ndarray, score: np.ndarray, ref: np.ndarray) -> None:
    """Greedy over sparse neighbour pairs (local indices, both directions, already thresholded)."""
    m = len(members)
    order = np.lexsort((pv if better_low else -pv, pj, pi))  # per i: by j, then by value
    pi, pj, pv = pi[order], pj[order], pv[order]
    starts = np.searchsorted(pi, np.arange(m + 1))
    kept_local = np.zeros(m, dtype=bool)
    for a in range(m):
        best_b, best_v = -1, None
        for k in range(starts[a], starts[a + 1]):
            b = pj[k]
            if b < a and kept_local[b]:
                v = pv[k]
                if best_v is None or (v < best_v if better_low else v > best_v):
                    best_b, best_v = b, v
        if best_b >= 0:
            score[members[a]] = best_v
            ref[members[a]] = members[best_b]
        else:
            kept_local[a] = True
            kept[members[a]] = True


# ----------------------------------------------------------------------------- strategies
def _hash_strategy(codes: np.ndarray, scopes: list[np.ndarray], t: float, out: tuple,
                   dense_max: int = DENSE_MAX) -> None:
    kept, score, ref = out
    for members in scopes:
        c = codes[members]
        if len(members) <= dense_max:
            d = hashing.hamming(c[:, None], c[None, :]).astype(np.float64)
            _greedy_dense(members, d <= t, d, True, kept, score, ref)
        else:
            pi, pj, pv = _hamming_pairs(c, int(t))
            _greedy_pairs(members, pi, pj, pv.astype(np.float64), True, kept, score, ref)


def _hamming_pairs(codes: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs within Hamming distance t: faiss binary range search, else blocked popcount."""
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        x = np.ascontiguousarray(codes.astype(">u8").view(np.uint8).reshape(-1, 8))
        index = faiss.IndexBinaryFlat(64)
        index.add(x)
        lims, dist, labels = index.range_search(x, t + 1)  # strict "<" radius in faiss
        pi = np.repeat(np.arange(len(codes)), np.diff(lims).astype(np.int64))
        keep = labels != pi
        return pi[keep], labels[keep].astype(np.int64), dist[keep]
    pis, pjs, pvs = [], [], []
    for s in range(0, len(codes), 2048):
        d = hashing.hamming(codes[s : s + 2048, None], codes[None, :])
        i, j = np.nonzero(d <= t)
        i = i + s
        keep = i != j
        pis.append(i[keep])
        pjs.append(j[keep])
        pvs.append(d[i[keep] - s, j[keep]])
    return np.concatenate(pis), np.concatenate(pjs), np.concatenate(pvs)


def _features(data: Any) -> np.ndarray:
    f = np.asarray(data, dtype=np.float32)
    f = f.reshape(len(f), -1)
    if not np.all(np.isfinite(f)):
        raise DataError(None, "features contain NaN or Inf values")
    norms = np.linalg.norm(f, axis=1)
    if np.any(norms == 0):
        raise DataError(None, f"{int((norms == 0).sum())} feature vector(s) are all zeros; "
                              "cosine similarity is undefined for them")
    return np.ascontiguousarray(f / norms[:, None])


def cosine_pairs(f: np.ndarray, t: float, k: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour pairs with cosine similarity >= t among unit vectors ``f`` (N, D).

    Uses faiss when installed: exact flat range search up to 20,000 items, else an inverted-file
    index (sqrt(N) cells, 8 probed; near-duplicates land in the same or nearby cells),
    else scikit-learn's NearestNeighbors (k nearest, then thresholded).
    """
    n, d = f.shape
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        if n <= 20000:
            index = faiss.IndexFlatIP(d)
        else:
            nlist = int(np.sqrt(n))
            quant = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = 0
            index.cp.niter = 10
            rng = np.random.default_rng(0)
            index.train(f[rng.choice(n, size=min(n, 40 * nlist), replace=False)])
            index.nprobe = 8
        index.add(f)
        lims, sims, labels = index.range_search(f, float(np.nextafter(np.float32(t), -np.inf)))
        pi = np.repeat(np.arange(n), np.diff(lims).astype(np.int64))
        keep = (labels != pi) & (sims >= t)
        return pi[keep], labels[keep].astype(np.int64), sims[keep].astype(np.float64)
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k + 1, n)).fit(f)
    dist, idx = nn.kneighbors(f)
    sims = 1.0 - dist**2 / 2.0  # unit vectors: |a-b|^2 = 2 - 2 cos
    pi = np.repeat(np.arange(n), idx.shape[1])
    pj, pv = idx.reshape(-1), sims.reshape(-1)
    keep = (pj != pi) & (pv >= t)
    # make pairs symmetric so every earlier neighbour is seen from the later item
    pi, pj, pv = pi[keep], pj[keep], pv[keep]
    return np.concatenate([pi, pj]), np.concatenate([pj, pi]), np.concatenate([pv, pv])


def _embedding_strategy(f: np.ndarray, scopes: list[np.ndarray], t: float, out: tuple,
                        dense_max: int = DENSE_MAX) -> None:
    from threadpoolctl import threadpool_limits

    kept, score, ref = out
    small = [m for m in scopes if len(m) <= dense_max]
    # many small BLAS products: one BLAS thread avoids thread start/spin overhead per product
    with threadpool_limits(limits=1, user_api="blas"):
        for members in small:
            sub = f[members]
            s = sub @ sub.T
            _greedy_dense(members, s >= t, s.astype(np.float64), False, kept, score, ref)
    for members in scopes:
        if len(members) > dense_max:
            pi, pj, pv = cosine_pairs(f[members], t)
            _greedy_pairs(members, pi, pj, pv, False, kept, score, ref)


def _neighbour_strategy(sim_fn: Any, scopes: list[np.ndarray], t: float, out: tuple) -> None:
    """Compare each item with the last KEPT item of its group (batched): drop if sim >= t."""
    kept, score, ref = out
    for members in scopes:
        r = members[0]
        kept[r] = True
        pos, batch = 1, 4
        while pos < len(members):
            cand = members[pos : pos + batch]
            s = sim_fn(r, cand)
            below = np.flatnonzero(s < t)
            if below.size:
                f = int(below[0])
                score[cand[: f + 1]] = s[: f + 1]
                ref[cand[: f + 1]] = r
                kept[cand[f]] = True
                r = cand[f]
                pos += f + 1
                batch = 4
            else:
                score[cand] = s
                ref[cand] = r
                pos += len(cand)
                batch = min(batch * 2, 256)


def ssim_fn(images: np.ndarray) -> Any:
    """SSIM of one reference item against a batch: MONAI's ``compute_ssim_and_cs`` (Gaussian
    window 7, sigma 1.5, data range 1 on intensities scaled to [0, 1]), averaged per item."""
    import torch

    from polyclr._optional import require

    regression = require("monai.metrics.regression", "volume")
    h, w = images.shape[1:]
    win = max(1, min(7, h, w))
    win -= 1 - win % 2  # odd window
    x = torch.from_numpy(images.astype(np.float32) / 255.0)

    def fn(r: int, cand: np.ndarray) -> np.ndarray:
        y = x[cand][:, None]
        ref = x[r][None, None].expand_as(y)
        ssim, _ = regression.compute_ssim_and_cs(
            y, ref, spatial_dims=2, kernel_size=(win, win), kernel_sigma=(1.5, 1.5),
            data_range=1.0, kernel_type="gaussian")
        return ssim.reshape(len(cand), -1).mean(dim=1).double().numpy()

    return fn


def entropy_fn(images: np.ndarray, bins: int = 32) -> tuple[Any, np.ndarray]:
    """Normalised mutual information 2 I(a;b) / (H(a) + H(b)) of binned intensities.

    Joint histograms for a whole batch come from one ``np.bincount`` (vectorised; the
    per-pair scikit-learn score would be a Python loop). Two constant items give 1.
    """
    q = (images.astype(np.int64) * bins // 256).reshape(len(images), -1)
    npx = q.shape[1]

    def _h(p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)

    marg = np.stack([np.bincount(r, minlength=bins) for r in q]) / npx
    ent = _h(marg)

    def fn(r: int, cand: np.ndarray) -> np.ndarray:
        codes = q[cand] * bins + q[r][None, :] + (np.arange(len(cand)) * bins * bins)[:, None]
        joint = np.bincount(codes.reshape(-1), minlength=len(cand) * bins * bins)
        joint = joint.reshape(len(cand), bins * bins) / npx
        mi = ent[cand] + ent[r] - _h(joint)
        denom = ent[cand] + ent[r]
        return np.where(denom > 0, 2 * mi / np.where(denom > 0, denom, 1), 1.0)

    return fn, ent


def _every_n(order: np.ndarray, scopes: list[np.ndarray], every_n: int | None,
             target_count: int | None, out: tuple) -> None:
    kept, score, _ = out
    sizes = np.array([len(m) for m in scopes])
    if target_count is not None:
        count = min(int(target_count), int(sizes.sum()))
        exact = sizes * count / sizes.sum()
        quota = np.floor(exact).astype(int)
        rest = count - quota.sum()
        quota[np.argsort(-(exact - quota), kind="stable")[:rest]] += 1
    for s, members in enumerate(scopes):
        m = len(members)
        score[members] = np.arange(m)
        if target_count is None:
            keep = np.arange(0, m, int(every_n))
        else:
            q = int(quota[s])
            keep = np.unique(np.round(np.linspace(0, m - 1, q)).astype(int)) if q else []
        kept[members[keep]] = True


def run_method(method: str, data: Any, order: np.ndarray, scope_ids: np.ndarray,
               t: float | None, every_n: int | None, target_count: int | None,
               intensity: str, groups: np.ndarray, dense_max: int = DENSE_MAX,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Run one strategy; returns (kept, score, ref, extra), all in input order. Scopes of up to
    ``dense_max`` items compare all pairs at once; larger ones go through a nearest-neighbour
    index (the same kept items, less memory)."""
    n = len(order)
    kept = np.zeros(n, dtype=bool)
    score = np.full(n, np.nan)
    ref = np.full(n, -1, dtype=np.int64)
    out = (kept, score, ref)
    scopes = _scopes(order, scope_ids)
    extra: dict[str, np.ndarray] = {}
    if method == "every_n":
        _every_n(order, scopes, every_n, target_count, out)
    elif method == "embedding":
        _embedding_strategy(_features(data), scopes, float(t), out, dense_max)
    else:
        images = as_uint8_items(data, groups, intensity)
        extra["constant"] = np.array([a.min() == a.max() for a in images])
        if method in hashing.HASHES:
            codes = hash_items(images, method)
            extra["hash"] = codes
            _hash_strategy(codes, scopes, float(t), out, dense_max)
        else:
            if not isinstance(images, np.ndarray):
                raise DataError(None, f"{method} needs items of one size; got several shapes")
            if method == "ssim":
                import torch

                threads = torch.get_num_threads()
                torch.set_num_threads(1)  # small per-pair convolutions: threads only add overhead
                try:
                    _neighbour_strategy(ssim_fn(images), scopes, float(t), out)
                finally:
                    torch.set_num_threads(threads)
            else:
                fn, ent = entropy_fn(images)
                extra["entropy"] = ent
                _neighbour_strategy(fn, scopes, float(t), out)
    return kept, score, ref, extra
