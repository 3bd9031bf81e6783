"""``polyclr ... timeseries``: pretrain → linear probe → fine-tune at label fractions → report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from polyclr._lazy import lazy_module
from polyclr.engine import load_encoder, save_encoder, seed_everything
from polyclr.errors import DataError
from polyclr.evaluation import mean_std
from polyclr.modalities.timeseries.encoders import Classifier
from polyclr.pipelines.base import Data, Pipeline, demo_stats
from polyclr.pipelines.timeseries import data as D
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.pipelines.timeseries.evaluate import (
    label_efficiency,
    metric_keys,
    probe,
    score,
    svm,
    targets,
)
from polyclr.pipelines.timeseries.report import write_timeseries_report
from polyclr.rundir import StageMarkers, write_json
from polyclr.splits import label_fraction_subset

T = lazy_module("polyclr.pipelines.timeseries.train")  # Lightning loads when training starts


class TimeSeriesPipeline(Pipeline):
    """Time-series recipe (TS2Vec / COMET / AutoTCL objectives, patient-independent splits)."""

    name = "timeseries"
    config_class = TimeSeriesConfig

    def open(self, cfg: TimeSeriesConfig, data: Path) -> D.Prepared:
        return D.open_dataset(Path(data), cfg)

    # --------------------------------------------------------------- pretrain
    def pretrain(self, cfg: TimeSeriesConfig, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        seed_everything(cfg.engine.seed)
        prep = D.split(cfg, self.opened(cfg, data), out, need_labels=False)
        res = T.pretrain_encoder(cfg, prep, out, resume)
        res.pop("objective_object")
        res["pretrain_labelled_samples"] = int(len(prep.train_labelled))
        if len(prep.test) and len(prep.train_labelled):  # labels optional: no probe without them
            enc = T.make_encoder(T.encoder_spec(cfg, prep.data))
            state, _ = load_encoder(out / "encoder.safetensors")
            enc.load_state_dict(state)
            res["linear_probe"] = probe(enc, prep, cfg.engine.seed)
            res["svm_probe"] = svm(enc, prep)
        return res

    # --------------------------------------------------------------- finetune
    def finetune(self, cfg: TimeSeriesConfig, data: Data, checkpoint: Path | None, out: Path,
                 label_fraction: float | None = None, labeled_volumes: int | None = None) -> dict[str, Any]:
        if labeled_volumes is not None:
            raise DataError(getattr(data, "path", data), "--labeled-volumes is for volumes; use --label-fraction for time series")
        frac = 1.0 if label_fraction is None else label_fraction
        if not 0 < frac <= 1:
            raise DataError(getattr(data, "path", data), f"label fraction must be in (0, 1], got {frac}")
        seed_everything(cfg.engine.seed)
        prep = D.split(cfg, self.opened(cfg, data), out)
        spec = T.encoder_spec(cfg, prep.data)
        if checkpoint is not None:
            encoder, meta, _ = T.load_checkpoint(checkpoint)
            T.check_compatible(meta, prep.data, prep.path)
            spec = meta["encoder"]
        else:
            encoder = T.make_encoder(spec)
        d = prep.data
        subset = label_fraction_subset(prep.train_labelled, d.y, frac, cfg.engine.seed)
        model = Classifier(encoder, d.n_classes)
        scale = cfg.downstream.encoder_lr_scale if checkpoint is not None else 1.0
        T.finetune_model(cfg, model, d.X[subset], targets(d, subset), cfg.engine.seed, encoder_lr_scale=scale)
        meta = T.encoder_meta(cfg, spec, prep)
        meta.update({"n_classes": d.n_classes, "label_fraction": frac, "multilabel": d.multilabel,
                     "init": "pretrained" if checkpoint is not None else "random_init"})
        save_encoder(out / "classifier.safetensors", model.state_dict(), meta)
        proba = T.predict_proba(model, d.X[prep.test], multilabel=d.multilabel)
        return {"label_fraction": frac, "n_labelled": int(len(subset)), "init": meta["init"],
                "test": score(d, prep.test, proba)}

    # --------------------------------------------------------------- evaluate
    def evaluate(self, cfg: TimeSeriesConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        seed_everything(cfg.engine.seed)
        prep = D.split(cfg, self.opened(cfg, data), out)
        encoder, meta, clf = T.load_checkpoint(checkpoint)
        T.check_compatible(meta, prep.data, prep.path)
        if clf is not None:
            proba = T.predict_proba(clf, prep.data.X[prep.test], multilabel=prep.data.multilabel)
            return {"kind": "classifier", "test": score(prep.data, prep.test, proba)}
        return {"kind": "linear_probe", "linear_probe": probe(encoder, prep, cfg.engine.seed),
                "svm_probe": svm(encoder, prep)}

    def embed(self, cfg: TimeSeriesConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Write ``out/embeddings.npy`` (all samples, file order) and ``out/embedding_index.npz``."""
        prep = self.opened(cfg, data)
        d = prep.raw
        encoder, meta, _ = T.load_checkpoint(checkpoint)
        T.check_compatible(meta, d, prep.path)
        emb = T.embed(encoder, T.normalize_like(meta, d.X))
        np.save(Path(out) / "embeddings.npy", emb)
        np.savez(Path(out) / "embedding_index.npz", y=d.y, patient_id=d.patient_id, trial_id=d.trial_id)
        return {"n": int(len(emb)), "dim": int(emb.shape[1])}

    def selection_items(self, path: Path) -> Any:
        return D.selection_items(Path(path))

    def selection_features(self, checkpoint: Path, items: list[Any]) -> np.ndarray:
        """Instance embeddings of equal-length series with an encoder run dir / safetensors
        (inputs normalised with the stored training mean/std)."""
        if len({a.shape for a in items}) != 1:
            raise DataError(checkpoint, "series of different lengths; embed them with `polyclr embed` "
                                        "and pass the .npy features")
        encoder, meta, _ = T.load_checkpoint(checkpoint)
        return T.embed(encoder, T.normalize_like(meta, np.stack(items).astype(np.float32)))

    # -------------------------------------------------------------------- run
    def run(self, cfg: TimeSeriesConfig, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        seed_everything(cfg.engine.seed)
        prep = D.split(cfg, self.opened(cfg, data), out)
        stages = StageMarkers(out, resume)

        def pretrain() -> dict[str, Any]:
            pre = T.pretrain_encoder(cfg, prep, out, resume)
            pre.pop("objective_object")
            return pre

        pre = stages.run("pretrain", pretrain)
        spec = T.encoder_spec(cfg, prep.data)
        encoder = T.make_encoder(spec)
        encoder.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
        emb_all = T.embed(encoder, prep.data.X)  # once: probes, head inits and the report share it
        rows = label_efficiency(cfg, prep, encoder, spec, stages, emb_all)
        probe_full = probe(encoder, prep, cfg.engine.seed, emb_all=emb_all)
        metrics: dict[str, Any] = {
            "dataset": str(prep.path), "objective": cfg.objective.name, "encoder": spec["name"],
            "n_train": int(len(prep.train_labelled)), "n_test": int(len(prep.test)),
            "n_pretrain": int(len(prep.train)), "multilabel": prep.data.multilabel,
            "pretrain_seconds": pre["pretrain_seconds"], "pretrain_steps": pre["pretrain_steps"],
            "peak_rss_mb": pre["peak_rss_mb"], "peak_gpu_mb": pre["peak_gpu_mb"], "linear_probe": probe_full,
            "svm_probe": svm(encoder, prep, emb_all),
            "rows": rows,
            "summary": mean_std(rows, ["method", "label_fraction"], metric_keys(rows)),
        }
        if cfg.downstream.plots:
            metrics["figures"] = write_timeseries_report(cfg, prep, emb_all[prep.test], metrics, out)
        return metrics

    def label_efficiency(self, cfg: TimeSeriesConfig, prep: D.Prepared, encoder: Any,
                         spec: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per (method, label fraction, seed), scored on the test patients (see
        :func:`polyclr.pipelines.timeseries.evaluate.label_efficiency`)."""
        return label_efficiency(cfg, prep, encoder, spec)

    # ------------------------------------------------------------------- demo
    def demo_data(self) -> Path:
        import aeon

        return Path(os.path.dirname(aeon.__file__)) / "datasets" / "data" / "GunPoint" / "GunPoint_TRAIN.ts"

    def demo_config(self) -> TimeSeriesConfig:
        cfg = TimeSeriesConfig()
        cfg.engine.max_steps = 120
        cfg.engine.logger = "none"
        cfg.downstream.finetune_steps = 60
        return cfg

    def demo(self, out: Path) -> dict[str, Any]:
        """GunPoint: TS2Vec pre-training, then fine-tuning with 10 % labels (3 label draws),
        pre-trained vs random init, accuracy on the test split."""
        cfg = self.demo_config()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        seed_everything(0)
        prep = D.prepare(cfg, self.demo_data(), out)
        pre = T.pretrain_encoder(cfg, prep, out)
        pre.pop("objective_object")
        spec = T.encoder_spec(cfg, prep.data)
        encoder = T.make_encoder(spec)
        encoder.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
        cfg.downstream.methods = ["pretrained", "random_init"]
        cfg.downstream.label_fractions, cfg.downstream.seeds = [0.1], [0, 1, 2]
        rows = label_efficiency(cfg, prep, encoder, spec)
        acc = {m: [r["accuracy"] for r in rows if r["method"] == m] for m in ("pretrained", "random_init")}
        res = {"metric": "accuracy", **demo_stats(acc["pretrained"], acc["random_init"]),
               "label_fraction": 0.1, "dataset": "GunPoint", "pretrain_seconds": pre["pretrain_seconds"],
               "split": "test",
               "note": "shows: test accuracy after fine-tuning with 10 % of GunPoint's training labels, "
                       "pre-trained vs random init under the same encoder, head, steps and labels; "
                       "does not show: other datasets or budgets (one small UCR set, one pre-training "
                       "run; spread is over 3 label draws)"}
        write_json(out / "demo_rows.json", rows)
        return res

    def summary_line(self, metrics: dict[str, Any]) -> str:
        parts = []
        for key in ("pretrain_seconds", "kind"):
            if key in metrics:
                parts.append(f"{key}={metrics[key]}")
        for key in ("linear_probe", "svm_probe", "test"):
            if isinstance(metrics.get(key), dict):
                parts.append(f"{key}.accuracy={metrics[key].get('accuracy', float('nan')):.4f}")
        return ", ".join(parts) or super().summary_line(metrics)

PIPELINE = TimeSeriesPipeline()
