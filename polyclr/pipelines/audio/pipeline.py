"""The audio–text pipeline: check, pretrain, finetune (probe), evaluate, run, embed, demo."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr.errors import DataError
from polyclr.modalities.audio.io import AUDIO_EXTENSIONS, CAPTIONS_FILE, audio_info
from polyclr.modalities.audio.text import TextEmbeddingCache
from polyclr.pipelines.audio.config import AudioConfig
from polyclr.pipelines.audio.data import Prepared, embed_items, prepare
from polyclr.pipelines.audio.evaluate import evaluate_models
from polyclr.pipelines.audio.train import build_models, load_models, save_models, train_objective
from polyclr.pipelines.base import CheckReport, Pipeline
from polyclr.rundir import write_json

SUMMARY_KEYS = ("zero_shot.accuracy", "retrieval.t2a.R@1", "retrieval.a2t.R@1", "order.group_score",
                "linear_probe.accuracy")


def _get(d: dict[str, Any], dotted: str) -> Any:
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _public(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not k.startswith("_")}


def _checkpoint_file(checkpoint: Path) -> Path:
    p = Path(checkpoint)
    if p.is_dir():
        p = p / "encoder.safetensors"
    if not p.is_file():
        raise DataError(checkpoint, "no encoder.safetensors here; pass a pretrain run dir or the file")
    return p


def _audio_files(data: Path) -> list[Path]:
    if data.is_file():
        return [data]
    return sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)


class AudioPipeline(Pipeline):
    """CLAP-style audio–text pre-training (CLIP, CWCL, order negatives) and its evaluation."""

    name = "audio"
    config_class = AudioConfig

    def __init__(self) -> None:
        self._cache: TextEmbeddingCache | None = None

    @property
    def cache(self) -> TextEmbeddingCache:
        """One frozen-text cache per process: each distinct string is encoded once."""
        if self._cache is None:
            self._cache = TextEmbeddingCache()
        return self._cache

    def summary_line(self, metrics: dict[str, Any]) -> str:
        """Headline numbers per objective (``run``) or of the one model (``evaluate``)."""
        rows = metrics.get("summary") or [{"objective": metrics.get("objective", "model"),
                                           **{k: _get(metrics, k) for k in SUMMARY_KEYS}}]
        parts = []
        for r in rows:
            vals = ", ".join(f"{k.split('.')[0]}={r[k]:.3f}" for k in SUMMARY_KEYS[:4]
                             if isinstance(r.get(k), int | float))
            parts.append(f"{r['objective']}: {vals}" if vals else "")
        return "; ".join(p for p in parts if p) or super().summary_line(metrics)

    # ------------------------------------------------------------------ check
    def check(self, cfg: AudioConfig, data: Path) -> CheckReport:
        data = Path(data)
        if data.is_dir() and (data / CAPTIONS_FILE).is_file():
            prep = prepare(data, cfg.data.test_size, cfg.data.val_size, cfg.data.split_seed)
            secs = [it.seconds for it in prep.items]
            warnings = []
            long = [it.name for it in prep.items if it.seconds > cfg.data.cache_max_seconds]
            if long:
                warnings.append(f"{len(long)} file(s) longer than {cfg.data.cache_max_seconds:.0f} s "
                                "are read window by window")
            labels = sorted({it.label for it in prep.items if it.label})
            if len(labels) < 2:
                warnings.append("fewer than 2 labels: zero-shot and linear probe are skipped")
            return CheckReport({
                "files": len(prep.items), "captions": sum(len(it.captions) for it in prep.items),
                "hours": round(sum(secs) / 3600, 4), "labels": len(labels),
                "train": len(prep.split["train"]), "test": len(prep.split["test"]),
                "split": prep.split_source,
            }, warnings)
        files = _audio_files(data)
        if not files:
            raise DataError(data, f"no {CAPTIONS_FILE} and no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        infos = [audio_info(f) for f in files]
        return CheckReport({"files": len(files), "hours": round(sum(i.seconds for i in infos) / 3600, 4)},
                           [f"no {CAPTIONS_FILE}: only 'embed' can use this folder"])

    def _prepare(self, cfg: AudioConfig, data: Path, out: Path | None) -> Prepared:
        from polyclr.splits import write_split_record

        prep = prepare(data, cfg.data.test_size, cfg.data.val_size, cfg.data.split_seed)
        if out is not None:
            groups = {s: [prep.items[i].group for i in idx] for s, idx in prep.split.items()}
            write_split_record(out, groups, cfg.data.deidentify_salt or None)
        if cfg.selection.method != "none":
            prep = self._select(cfg, prep, out)
        return prep

    def _select(self, cfg: AudioConfig, prep: Prepared, out: Path | None) -> Prepared:
        """Redundancy-reducing selection of the training files (log-mel of the centre crop)."""
        from polyclr.modalities.audio.features import LogMel
        from polyclr.pipelines.audio.data import eval_windows
        from polyclr.selection import apply_selection_config

        train = prep.split["train"]
        mel = LogMel(cfg.features)
        with torch.no_grad():
            specs = np.stack([mel(torch.from_numpy(eval_windows(prep.items[i], cfg.features.sample_rate,
                                                                   cfg.data.clip_seconds, 1)))[0].numpy()
                              for i in train])
        res = apply_selection_config(cfg.selection, specs, [prep.items[i].group for i in train],
                                     None, [prep.items[i].name for i in train])
        if out is not None:
            res.table.to_csv(Path(out) / "selection.csv", index=False)
        kept = np.asarray(res.table["kept"], dtype=bool)
        prep.split = {**prep.split, "train": train[kept]}
        return prep

    # ------------------------------------------------------------------ training
    def pretrain(self, cfg: AudioConfig, data: Path, out: Path, resume: bool = False) -> dict[str, Any]:
        prep = self._prepare(cfg, data, out)
        name = cfg.objective.name
        encoder, text, stats = train_objective(cfg, name, prep.subset("train"), out, self.cache, resume)
        save_models(Path(out) / "encoder.safetensors", cfg, encoder, text, name)
        return {"objective": name, "train": stats, "n_train_files": len(prep.split["train"])}

    def finetune(self, cfg: AudioConfig, data: Path, checkpoint: Path | None, out: Path,
                 label_fraction: float | None = None, labeled_volumes: int | None = None) -> dict[str, Any]:
        """Linear probe on frozen audio features with a stratified fraction of training labels."""
        from polyclr.evaluation import linear_probe
        from polyclr.splits import label_fraction_subset

        prep = self._prepare(cfg, data, out)
        if checkpoint is None:
            encoder, _ = build_models(cfg, self.cache, [])
        else:
            encoder, _, _ = load_models(_checkpoint_file(checkpoint), self.cache)
        train = [it for it in prep.subset("train") if it.label]
        test = [it for it in prep.subset("test") if it.label]
        classes = sorted({it.label for it in prep.items if it.label})
        if len(classes) < 2 or not test:
            raise DataError(data, "fine-tuning (linear probe) needs a 'label' column with >= 2 classes")
        y = np.array([classes.index(it.label) for it in train])
        fraction = label_fraction or 1.0
        keep = label_fraction_subset(np.arange(len(train)), y, fraction, cfg.engine.seed)
        sr, clip = cfg.features.sample_rate, cfg.data.clip_seconds
        _, ftr = embed_items(encoder, [train[i] for i in keep], sr, clip, cfg.data.eval_crops)
        _, fte = embed_items(encoder, test, sr, clip, cfg.data.eval_crops)
        yte = np.array([classes.index(it.label) for it in test])
        res = linear_probe(ftr.numpy(), y[keep], fte.numpy(), yte, seed=cfg.engine.seed)
        return {"linear_probe": res, "label_fraction": fraction, "n_labeled": int(len(keep)),
                "init": "random" if checkpoint is None else str(checkpoint)}

    def evaluate(self, cfg: AudioConfig, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
        prep = self._prepare(cfg, data, out)
        encoder, text, meta = load_models(_checkpoint_file(checkpoint), self.cache)
        m = _public(evaluate_models(cfg, encoder, text, prep))
        m["objective"] = meta.get("objective")
        return m

    def embed(self, cfg: AudioConfig, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Audio files → ``OUT/embeddings.npy`` (joint space, one row per file) + ``files.txt``.

        Long files are streamed as consecutive clips (bounded memory) and mean-pooled;
        ``OUT/clip_embeddings/<i>.npy`` keeps the per-clip rows for long-form fusion.
        """
        from polyclr.modalities.audio.features import repeat_pad
        from polyclr.modalities.audio.fusion import iter_clips
        from polyclr.pipelines.audio.data import embed_waves

        encoder, _, _ = load_models(_checkpoint_file(checkpoint), self.cache)
        files = _audio_files(Path(data))
        sr = encoder.sample_rate
        clip = float(cfg.data.clip_seconds)
        n = int(round(clip * sr))
        rows, clip_dir = [], Path(out) / "clip_embeddings"
        for i, f in enumerate(files):
            parts = []
            for w in iter_clips(f, sr, clip):
                a, _ = embed_waves(encoder, repeat_pad(w, n)[None])
                parts.append(torch.nn.functional.normalize(a, dim=-1))
            clips = torch.cat(parts)
            if len(clips) > 1:
                clip_dir.mkdir(parents=True, exist_ok=True)
                np.save(clip_dir / f"{i:05d}.npy", clips.numpy())
            rows.append(torch.nn.functional.normalize(clips.mean(0), dim=-1).numpy())
        np.save(Path(out) / "embeddings.npy", np.stack(rows).astype(np.float32))
        (Path(out) / "files.txt").write_text("\n".join(str(f) for f in files) + "\n", encoding="utf-8")
        return {"n_files": len(files), "dim": int(rows[0].shape[0]), "embeddings": "embeddings.npy"}

    # ------------------------------------------------------------------ run / demo
    def run(self, cfg: AudioConfig, data: Path, out: Path) -> dict[str, Any]:
        out = Path(out)
        prep = self._prepare(cfg, data, out)
        metrics: dict[str, Any] = {"n_files": {k: int(len(v)) for k, v in prep.split.items()}}
        embeddings: dict[str, Any] = {}
        for name in cfg.objective.runs:
            run_dir = out / "runs" / name.replace("+", "_")
            encoder, text, stats = train_objective(cfg, name, prep.subset("train"), run_dir, self.cache)
            save_models(run_dir / "encoder.safetensors", cfg, encoder, text, name)
            res = evaluate_models(cfg, encoder, text, prep)
            embeddings[name] = (res.pop("_test_embeddings"), res.pop("_test_labels"))
            metrics[name] = {**res, "train": stats}
        if cfg.evaluation.random_init:
            torch.manual_seed(cfg.engine.seed)
            encoder, text = build_models(cfg, self.cache, [c for it in prep.subset("train") for c in it.captions])
            encoder.eval()
            res = evaluate_models(cfg, encoder, text, prep)
            embeddings["random_init"] = (res.pop("_test_embeddings"), res.pop("_test_labels"))
            metrics["random_init"] = res
        metrics["summary"] = [
            {"objective": k, **{s: _get(v, s) for s in SUMMARY_KEYS}}
            for k, v in metrics.items() if isinstance(v, dict) and "retrieval" in v
        ]
        self._report(cfg, out, metrics, embeddings)
        return metrics

    def _report(self, cfg: AudioConfig, out: Path, metrics: dict[str, Any], embeddings: dict[str, Any]) -> None:
        try:
            from polyclr.evaluation.plots import plot_embedding
            from polyclr.report import write_report
        except ImportError:  # reporting helpers are optional for the metrics themselves
            return
        figures = []
        for name, (emb, labels) in embeddings.items():
            path = out / "figures" / f"embedding_{name.replace('+', '_')}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            plot_embedding(emb.numpy(), np.array(labels), path, title=f"held-out audio ({name})")
            figures.append({"path": path, "caption": f"t-SNE of held-out audio embeddings, {name}"})
        write_report(out, "polyclr audio–text run", _public({k: v for k, v in metrics.items() if k != "summary"}),
                     figures=figures, tables=[("Held-out summary", metrics["summary"])], config=cfg)

    def demo_data(self) -> Path:
        """The espeak/sox reference set if generated, else the pure-numpy set (cached)."""
        from polyclr.modalities.audio import synth

        base = synth.cache_dir()
        ref = base / "audio_reference"
        if (ref / CAPTIONS_FILE).is_file():
            return ref
        root = base / "audio_synth_v2"
        if not (root / CAPTIONS_FILE).is_file():
            tmp = Path(tempfile.mkdtemp(dir=base.mkdir(parents=True, exist_ok=True) or base))
            synth.generate(tmp, n_per_event=20, n_ordered=60, seed=0)
            try:
                tmp.rename(root)
            except OSError:  # another process won the race; use its copy
                pass
        return root

    def demo_config(self) -> AudioConfig:
        cfg = AudioConfig()
        cfg.engine.max_epochs = 8
        cfg.engine.batch_size = 32
        cfg.data.clip_seconds = 1.5
        cfg.objective.runs = ["cwcl+order"]
        cfg.evaluation.long_form_clips = 0
        return cfg

    def demo(self, out: Path) -> dict[str, Any]:
        cfg = self.demo_config()
        cfg.engine.logger = "none"
        data = self.demo_data()
        prep = self._prepare(cfg, data, Path(out))
        encoder, text, stats = train_objective(cfg, "cwcl+order", prep.subset("train"), None, self.cache)
        trained = evaluate_models(cfg, encoder, text, prep)
        torch.manual_seed(cfg.engine.seed)
        r_enc, r_text = build_models(cfg, self.cache, [])
        rand = evaluate_models(cfg, r_enc.eval(), r_text, prep)
        write_json(Path(out) / "audio_demo_details.json",
                   {"trained": _public(trained), "random_init": _public(rand), "train": stats})
        return {"metric": "zero_shot_accuracy",
                "pretrained": trained["zero_shot"]["accuracy"], "random_init": rand["zero_shot"]["accuracy"],
                "t2a_R@1": trained["retrieval"]["t2a"]["R@1"],
                "order_group_score": trained["order"]["group_score"], "data": str(data)}


PIPELINE = AudioPipeline()
