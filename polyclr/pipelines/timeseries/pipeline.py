"""``polyclr ... timeseries``: pretrain → linear probe → fine-tune at label fractions → report."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from polyclr.engine import load_encoder, save_encoder, seed_everything
from polyclr.errors import DataError
from polyclr.evaluation import classification_metrics, linear_probe, mean_std
from polyclr.modalities.timeseries.encoders import Classifier, TsaiBackbone
from polyclr.modalities.timeseries.io import load_dataset
from polyclr.pipelines.base import CheckReport, Pipeline
from polyclr.pipelines.timeseries import train as T
from polyclr.pipelines.timeseries.config import TimeSeriesConfig
from polyclr.rundir import write_json
from polyclr.splits import label_fraction_subset

METRIC_KEYS = ("accuracy", "macro_f1", "auroc", "auprc")


def _clean(m: dict[str, float]) -> dict[str, float]:
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in m.items()}


class TimeSeriesPipeline(Pipeline):
    """Time-series recipe (TS2Vec / COMET / AutoTCL objectives, patient-independent splits)."""

    name = "timeseries"
    config_class = TimeSeriesConfig

    # ------------------------------------------------------------------ check
    def check(self, cfg: TimeSeriesConfig, data: Path) -> CheckReport:
        d = load_dataset(data)
        warnings = []
        summary = d.summary()
        if d.variable_length:
            warnings.append(f"variable-length series (min {summary['min_length']}, max {d.length}): padded and masked")
        if (d.split == "").all():
            if len(np.unique(d.patient_id)) < 2:
                raise DataError(data, "need at least 2 patients for a patient-independent split")
            if len(np.unique(d.patient_id)) == len(d.y):
                warnings.append("no patient ids: each sample is treated as its own patient")
        if len(d.y) < 10:
            warnings.append(f"only {len(d.y)} samples")
        summary["class_counts"] = ";".join(f"{k}:{v}" for k, v in summary["class_counts"].items())
        if isinstance(summary["splits"], dict):
            summary["splits"] = ";".join(f"{k}:{v}" for k, v in summary["splits"].items())
        return CheckReport(summary, warnings)

    # --------------------------------------------------------------- pretrain
    def pretrain(self, cfg: TimeSeriesConfig, data: Path, out: Path, resume: bool = False) -> dict[str, Any]:
        seed_everything(cfg.engine.seed)
        prep = T.prepare(cfg, data, out)
        res = T.pretrain_encoder(cfg, prep, out, resume)
        res.pop("objective_object")
        enc = T.make_encoder(T.encoder_spec(cfg, prep.data))
        state, _ = load_encoder(out / "encoder.safetensors")
        enc.load_state_dict(state)
        probe = self._probe(enc, prep, cfg.engine.seed)
        res["linear_probe"] = _clean(probe)
        return res

    def _probe(self, encoder, prep: T.Prepared, seed: int, subset: np.ndarray | None = None) -> dict[str, float]:
        d = prep.data
        tr = prep.train if subset is None else subset
        emb_tr, emb_te = T.embed(encoder, d.X[tr]), T.embed(encoder, d.X[prep.test])
        return linear_probe(emb_tr, d.y[tr], emb_te, d.y[prep.test], seed=seed)

    # --------------------------------------------------------------- finetune
    def finetune(self, cfg: TimeSeriesConfig, data: Path, checkpoint: Path | None, out: Path,
                 label_fraction: float | None = None, labeled_volumes: int | None = None) -> dict[str, Any]:
        if labeled_volumes is not None:
            raise DataError(data, "--labeled-volumes is for volumes; use --label-fraction for time series")
        frac = 1.0 if label_fraction is None else label_fraction
        if not 0 < frac <= 1:
            raise DataError(data, f"label fraction must be in (0, 1], got {frac}")
        seed_everything(cfg.engine.seed)
        prep = T.prepare(cfg, data, out)
        spec = T.encoder_spec(cfg, prep.data)
        if checkpoint is not None:
            encoder, meta, _ = T.load_checkpoint(checkpoint)
            T.check_compatible(meta, prep.data, data)
            spec = meta["encoder"]
        else:
            encoder = T.make_encoder(spec)
        subset = label_fraction_subset(prep.train, prep.data.y, frac, cfg.engine.seed)
        model = Classifier(encoder, prep.data.n_classes)
        T.finetune_model(cfg, model, prep.data.X[subset], prep.data.y[subset], cfg.engine.seed)
        meta = T.encoder_meta(cfg, spec, prep)
        meta.update({"n_classes": prep.data.n_classes, "label_fraction": frac,
                     "init": "pretrained" if checkpoint is not None else "random_init"})
        save_encoder(out / "classifier.safetensors", model.state_dict(), meta)
        proba = T.predict_proba(model, prep.data.X[prep.test])
        return {"label_fraction": frac, "n_labelled": int(len(subset)), "init": meta["init"],
                "test": _clean(classification_metrics(prep.data.y[prep.test], proba))}

    # --------------------------------------------------------------- evaluate
    def evaluate(self, cfg: TimeSeriesConfig, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
        seed_everything(cfg.engine.seed)
        prep = T.prepare(cfg, data, out)
        encoder, meta, clf = T.load_checkpoint(checkpoint)
        T.check_compatible(meta, prep.data, data)
        if clf is not None:
            proba = T.predict_proba(clf, prep.data.X[prep.test])
            return {"kind": "classifier", "test": _clean(classification_metrics(prep.data.y[prep.test], proba))}
        return {"kind": "linear_probe", "linear_probe": _clean(self._probe(encoder, prep, cfg.engine.seed))}

    def embed(self, cfg: TimeSeriesConfig, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Write ``out/embeddings.npy`` (all samples, file order) and ``out/embedding_index.npz``."""
        d = load_dataset(data)
        encoder, meta, _ = T.load_checkpoint(checkpoint)
        T.check_compatible(meta, d, data)
        norm = meta.get("input", {}).get("normalization")
        X = d.X
        if norm:
            X = ((X - np.array(norm["mean"])[None, :, None]) / (np.array(norm["std"])[None, :, None] + 1e-8)).astype(np.float32)
        emb = T.embed(encoder, X)
        np.save(out / "embeddings.npy", emb)
        np.savez(out / "embedding_index.npz", y=d.y, patient_id=d.patient_id, trial_id=d.trial_id)
        return {"n": int(len(emb)), "dim": int(emb.shape[1])}

    # -------------------------------------------------------------------- run
    def run(self, cfg: TimeSeriesConfig, data: Path, out: Path) -> dict[str, Any]:
        seed_everything(cfg.engine.seed)
        prep = T.prepare(cfg, data, out)
        pre = T.pretrain_encoder(cfg, prep, out)
        pre.pop("objective_object")
        spec = T.encoder_spec(cfg, prep.data)
        encoder = T.make_encoder(spec)
        encoder.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
        rows = self.label_efficiency(cfg, prep, encoder, spec)
        probe_full = self._probe(encoder, prep, cfg.engine.seed)
        metrics: dict[str, Any] = {
            "dataset": str(data), "objective": cfg.objective.name, "encoder": spec["name"],
            "n_train": int(len(prep.train)), "n_test": int(len(prep.test)),
            "pretrain_seconds": pre["pretrain_seconds"], "pretrain_steps": pre["pretrain_steps"],
            "peak_rss_mb": pre["peak_rss_mb"], "peak_gpu_mb": pre["peak_gpu_mb"], "linear_probe": _clean(probe_full),
            "rows": rows,
            "summary": mean_std(rows, ["method", "label_fraction"], METRIC_KEYS),
        }
        if cfg.downstream.plots:
            metrics["figures"] = self._report(cfg, prep, encoder, metrics, out)
        return metrics

    def label_efficiency(self, cfg: TimeSeriesConfig, prep: T.Prepared, encoder, spec) -> list[dict[str, Any]]:
        """One row per (method, label fraction, seed), scored on the test patients."""
        d, ds = prep.data, cfg.downstream
        unknown = set(ds.methods) - {"linear_probe", "pretrained", "random_init", "supervised"}
        if unknown:
            raise DataError(None, f"unknown downstream methods {sorted(unknown)}")
        emb_all = T.embed(encoder, d.X) if "linear_probe" in ds.methods else None
        y_te, X_te = d.y[prep.test], d.X[prep.test]
        rows = []
        for frac in ds.label_fractions:
            for seed in ds.seeds:
                subset = label_fraction_subset(prep.train, d.y, frac, seed)
                for method in ds.methods:
                    seed_everything(seed)
                    if method == "linear_probe":
                        m = linear_probe(emb_all[subset], d.y[subset], emb_all[prep.test], y_te, seed=seed)
                    else:
                        if method == "pretrained":
                            enc = copy.deepcopy(encoder)
                        elif method == "random_init":
                            enc = T.make_encoder(spec)
                        else:
                            enc = TsaiBackbone(ds.supervised_arch, d.n_channels, d.length)
                        model = T.finetune_model(cfg, Classifier(enc, d.n_classes), d.X[subset], d.y[subset], seed)
                        m = classification_metrics(y_te, T.predict_proba(model, X_te))
                    rows.append({"method": method, "label_fraction": frac, "seed": seed,
                                 "n_labelled": int(len(subset)), **_clean(m)})
        return rows

    def _report(self, cfg, prep: T.Prepared, encoder, metrics: dict[str, Any], out: Path) -> list[str]:
        try:
            from polyclr.evaluation import plots
            from polyclr.report import write_report
        except ImportError:
            return []
        d = prep.data
        figs = []
        emb = T.embed(encoder, d.X[prep.test])
        plots.plot_embedding(emb, np.array(d.classes)[d.y[prep.test]], out / "embedding_test.png",
                             groups=d.patient_id[prep.test], title="test embeddings (pre-trained)")
        figs.append(("Test-set embeddings of the pre-trained encoder, coloured by class", out / "embedding_test.png"))
        plots.plot_label_efficiency(metrics["rows"], out / "label_efficiency.png")
        figs.append(("Macro-F1 vs label fraction (mean ± std over seeds)", out / "label_efficiency.png"))
        tables = [("Mean ± std over seeds", metrics["summary"])]
        write_report(out, f"polyclr timeseries: {cfg.objective.name} on {Path(metrics['dataset']).name}",
                     {k: v for k, v in metrics.items() if k not in ("rows", "summary")}, figures=figs, tables=tables)
        return [str(p.name) for _, p in figs]

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
        """GunPoint: TS2Vec pre-training, then fine-tuning with 10 % labels, pre-trained vs random
        init, accuracy on the test split (about a minute on a laptop CPU)."""
        cfg = self.demo_config()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        seed_everything(0)
        prep = T.prepare(cfg, self.demo_data(), out)
        pre = T.pretrain_encoder(cfg, prep, out)
        pre.pop("objective_object")
        spec = T.encoder_spec(cfg, prep.data)
        encoder = T.make_encoder(spec)
        encoder.load_state_dict(load_encoder(out / "encoder.safetensors")[0])
        cfg.downstream.methods = ["pretrained", "random_init", "linear_probe"]
        cfg.downstream.label_fractions, cfg.downstream.seeds = [0.1], [0]
        rows = self.label_efficiency(cfg, prep, encoder, spec)
        acc = {r["method"]: r["accuracy"] for r in rows}
        res = {"metric": "accuracy", "pretrained": acc["pretrained"], "random_init": acc["random_init"],
               "linear_probe_10pct": acc["linear_probe"], "label_fraction": 0.1, "dataset": "GunPoint",
               "pretrain_seconds": pre["pretrain_seconds"], "split": "test"}
        write_json(out / "demo_rows.json", rows)
        return res

    def summary_line(self, metrics: dict[str, Any]) -> str:
        parts = []
        for key in ("pretrain_seconds", "kind"):
            if key in metrics:
                parts.append(f"{key}={metrics[key]}")
        for key in ("linear_probe", "test"):
            if isinstance(metrics.get(key), dict):
                parts.append(f"{key}.accuracy={metrics[key].get('accuracy', float('nan')):.4f}")
        return ", ".join(parts) or super().summary_line(metrics)

