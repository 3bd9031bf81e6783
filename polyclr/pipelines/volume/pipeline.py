"""Volume pipeline: global (partition-aware) + local contrastive pre-training on MONAI UNets,
segmentation fine-tuning with K labelled volumes, volume-level classification.

Reference: Chaitanya et al., "Contrastive learning of global and local features for medical
image segmentation with limited annotations", NeurIPS 2020.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyclr._lazy import lazy_module
from polyclr.engine import load_encoder, save_encoder
from polyclr.engine.progress import track
from polyclr.errors import CheckpointError, DataError
from polyclr.evaluation import mean_std
from polyclr.pipelines.base import CheckReport, Data, Pipeline, demo_stats
from polyclr.pipelines.volume import data as D
from polyclr.pipelines.volume.config import VolumeConfig, build_net, parse_strategy, validate_config
from polyclr.rundir import StageMarkers, write_json

# training and evaluation code (Lightning) loads when first used, after the data is read
E = lazy_module("polyclr.pipelines.volume.evaluate")
TR = lazy_module("polyclr.pipelines.volume.train")


def _trained_parts(strategy: str) -> list[str]:
    glob, loc = parse_strategy(strategy)
    return (["encoder"] if glob else []) + (["decoder"] if loc else [])


class VolumePipeline(Pipeline):
    """``polyclr <command> volume``."""

    name = "volume"
    config_class = VolumeConfig

    def open(self, cfg: VolumeConfig, data: Path) -> D.VolumePrepared:
        return D.open_dataset(Path(data))

    def check(self, cfg: VolumeConfig, data: Data) -> CheckReport:
        """The dataset's summary plus its fingerprint's modality and plan (keys set in ``cfg`` kept)."""
        prep = self.opened(cfg, data)
        _, _, record = D.resolve(cfg, prep)
        report = prep.report()
        report.summary["modality"] = record["fingerprint"]["modality"]
        report.summary["plan"] = "; ".join(f"{k.split('.')[1]}={v}" for k, v in record["applied"].items()
                                          if k != "data.intensity_stats")
        return report

    def _cases(self, cfg: VolumeConfig, data: Data, out: Path | None
               ) -> tuple[VolumeConfig, D.VolumePrepared, list[D.Case], dict[str, list[D.Case]]]:
        """Open the data once, resolve the config with the dataset's plan (``plan.json`` in out),
        validate it, preprocess and split (``splits.json`` in out)."""
        cfg, prep, record = D.resolve(cfg, self.opened(cfg, data))
        validate_config(cfg)
        if out is not None:
            write_json(Path(out) / "plan.json", record)
        cases = D.load_cases(cfg, prep, build_net(cfg, 2).divisor)
        return cfg, prep, cases, D.split_cases(cfg, cases, out)

    def pretrain(self, cfg: VolumeConfig, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        """Writes ``encoder.safetensors`` (+ stage checkpoints)."""
        out = Path(out)
        cfg, _, cases, split = self._cases(cfg, data, out)
        pre = split["pretrain"]
        keep = D.apply_selection(cfg, pre, out)
        net, info = TR.pretrain_net(cfg, pre, cfg.pretrain.strategy, out, D.num_classes(cases), resume, keep=keep)
        save_encoder(out / "encoder.safetensors", net.state_dict(),
                     TR.encoder_meta(cfg, net, cfg.pretrain.strategy, _trained_parts(cfg.pretrain.strategy)))
        if keep is not None:
            info["selection"] = {"method": cfg.selection.method, "kept_slices": int(sum(k.sum() for k in keep)),
                                 "total_slices": int(sum(len(k) for k in keep))}
        return {"strategy": cfg.pretrain.strategy, "pretrain_volumes": len(pre), **info}

    def finetune(self, cfg: VolumeConfig, data: Data, checkpoint: Path | None, out: Path,
                 label_fraction: float | None = None, labeled_volumes: int | None = None) -> dict[str, Any]:
        """K labelled volumes, every combination x seed; test Dice; keeps ``model.safetensors``."""
        out = Path(out)
        cfg, prep, cases, split = self._cases(cfg, data, out)
        n_cls = D.num_classes(cases)
        init, meta = TR.load_init(checkpoint)
        if init is not None:
            TR.check_compatible(cfg, meta, n_cls, checkpoint)
        n_train = len(split["train"])
        if labeled_volumes is None and label_fraction is not None:
            labeled_volumes = max(1, round(label_fraction * n_train))
        k = labeled_volumes or cfg.finetune.labeled_volumes[0]
        if not 1 <= k <= n_train:
            raise DataError(prep.path, f"asked for {k} labelled volumes but the training split has {n_train}")
        method = meta.get("objective", {}).get("strategy", "pretrained") if init else "random_init"
        names = D.class_names(prep.path, n_cls)
        rows = E.finetune_rows(cfg, method, init, split, k, n_cls, names, out / "predictions")
        # keep one fine-tuned model (first combination, first seed) for `evaluate`
        net = build_net(cfg, n_cls)
        if init is not None:
            net.load_state_dict(init)
        first = D.combinations(split["train"], k, 1, cfg.split.split_seed)[0]
        net = TR.finetune_net(cfg, net, first, cfg.finetune.seeds[0], pretrained=init is not None)
        m = TR.encoder_meta(cfg, net, method, ["finetuned"])
        m.update(task="segmentation", classes=names)
        save_encoder(out / "model.safetensors", net.state_dict(), m)
        summary = mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"])
        return {"rows": rows, "summary": summary, "test_volumes": len(split["test"])}

    def evaluate(self, cfg: VolumeConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Dice of a fine-tuned model on the held-out split, masks under ``out/predictions``."""
        out = Path(out)
        cfg, prep, cases, split = self._cases(cfg, data, out)
        n_cls = D.num_classes(cases)
        state, meta = TR.load_init(checkpoint)
        if meta.get("task") != "segmentation":
            raise CheckpointError(checkpoint, "not a fine-tuned segmentation model (use the finetune run dir)")
        TR.check_compatible(cfg, meta, n_cls, checkpoint)
        net = build_net(cfg, n_cls)
        net.load_state_dict(state)
        names = D.class_names(prep.path, n_cls)
        dice, per_class, per_case, hd95 = E.evaluate_cases(cfg, net, split["test"], n_cls, names, out / "predictions")
        return {"dice_mean": dice, "dice": per_class, "hd95_mm": hd95, "dice_per_test_volume": per_case,
                "test_volumes": [c.item.case_id for c in split["test"]]}

    def run(self, cfg: VolumeConfig, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        """Pre-train every strategy, fine-tune at each K, classification, report. Each strategy
        and each fine-tune is a stage with a done marker (``out/stages``); ``resume`` skips the
        finished ones and continues an interrupted pre-training from its last checkpoint."""
        out = Path(out)
        cfg, prep, cases, split = self._cases(cfg, data, out)
        n_train = len(split["train"])
        if n_train < 1 or not split["test"]:
            raise DataError(prep.path, "need labelled volumes for both training and testing")
        n_cls = D.num_classes(cases)
        names = D.class_names(prep.path, n_cls)
        pre = split["pretrain"]
        keep = D.apply_selection(cfg, pre, out)
        stages = StageMarkers(out, resume)
        inits: dict[str, dict[str, torch.Tensor] | None] = {"random_init": None}
        pretrain_info = []
        for strategy in cfg.pretrain.strategies:
            safe = strategy.replace("+", "_").replace("-", "minus")
            path = out / "encoders" / f"{safe}.safetensors"
            done = stages.get(f"pretrain_{safe}")
            if done is not None and path.is_file():
                inits[strategy] = load_encoder(path)[0]
                pretrain_info.append(done)
                continue
            net, info = TR.pretrain_net(cfg, pre, strategy, out / "pretrain" / safe, n_cls, resume, keep=keep)
            inits[strategy] = copy.deepcopy(net.state_dict())
            save_encoder(path, net.state_dict(), TR.encoder_meta(cfg, net, strategy, _trained_parts(strategy)))
            pretrain_info.append(stages.put(f"pretrain_{safe}", info))
        skipped = [k for k in cfg.finetune.labeled_volumes if k > n_train]
        kept: dict[str, Any] = {}
        rows = E.finetune_table(cfg, split, inits, n_cls, names, out / "predictions", stages, keep=kept)
        if "net" in kept:  # the model `predict` / `embed` take
            m = TR.encoder_meta(cfg, kept["net"], kept["method"], ["finetuned"])
            m.update(task="segmentation", classes=names, labeled_volumes=kept["labeled_volumes"])
            save_encoder(out / "model.ckpt", kept["net"].state_dict(), m)
        if cfg.finetune.fully_supervised:
            rows += E.fully_supervised_rows(cfg, split, n_cls, names, stages)
        summary = mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"])
        classification = (stages.run("classification", lambda: E.classification_rows(cfg, split, inits, n_cls))
                          if cfg.finetune.classification else [])
        metrics = {
            "rows": rows, "summary": summary, "classification": classification,
            "pretrain": pretrain_info, "classes": names, "train_volumes": n_train,
            "test_volumes": len(split["test"]), "pretrain_volumes": len(pre),
            "skipped_labeled_volumes": skipped,
        }
        from polyclr.pipelines.volume.report import write_volume_report

        write_volume_report(cfg, out, metrics, split["test"])
        return metrics

    def predict(self, cfg: VolumeConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Masks for every scan of ``data`` on the scan's own grid and affine (``<case>.nii.gz``;
        ``<case>_seg.dcm`` for DICOM input) and ``volumes.csv`` (mL per class); the model's own
        preprocessing; the accelerator when there is one; one scan in memory at a time."""
        from polyclr.modalities.volume.io import save_label_like
        from polyclr.modalities.volume.transforms import invert_label, resample_label_nearest

        out = Path(out)
        net, mcfg, meta = E.load_model(checkpoint, cfg, task="segmentation")
        device = E.inference_device(mcfg)
        net.to(device)
        n_cls = int(meta["encoder"]["out_channels"])
        prep = self.opened(cfg, data)
        names = meta.get("classes") or D.class_names(prep.path, n_cls)
        rows = []
        for it, vol, d, t in track(E.scans(mcfg, prep, net.divisor), "predict scans", len(prep.items), "scans"):
            pred = E.predict(mcfg, net, E.Scan(d["image"])).numpy()
            ras = resample_label_nearest(pred, np.asarray(d["image"].affine), vol.affine, vol.array.shape[:3])
            if ras is None:  # axes not parallel: MONAI's inverse of the preprocessing
                ras = invert_label(pred, d, t)
            del d, pred
            row: dict[str, Any] = {"case": it.case_id, "patient": it.patient_id,
                                   "mask": save_label_like(ras, vol, out / f"{it.case_id}.nii.gz").name}
            if vol.series is not None:
                from polyclr.modalities.volume.dicom_labels import write_seg

                row["dicom_seg"] = write_seg(ras, vol, out / f"{it.case_id}_seg.dcm", names).name
            counts = np.bincount(ras.ravel().astype(np.int64), minlength=n_cls)
            ml = float(np.prod(vol.spacing)) / 1000.0
            row.update({f"{n}_ml": round(float(counts[i + 1]) * ml, 4) for i, n in enumerate(names)})
            rows.append(row)
        E.write_csv(out / "volumes.csv", rows)
        return {"scans": len(rows), "device": str(device), "classes": names, "rows": rows}

    def embed(self, cfg: VolumeConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """One frozen-encoder descriptor per scan (``classify.pooling`` of the bottleneck), with the
        checkpoint's own preprocessing: ``embeddings.npy`` (row order of ``embeddings.csv``:
        case, pseudonymised patient) and ``files.txt``."""
        out = Path(out)
        net, mcfg, _ = E.load_model(checkpoint, cfg)
        device = E.inference_device(mcfg)
        net.to(device)
        feats, rows = [], []
        prep = self.opened(cfg, data)
        for it, _, d, _ in track(E.scans(mcfg, prep, net.divisor), "embed scans", len(prep.items), "scans"):
            feats.append(E.volume_features(mcfg, net, E.Scan(d["image"]), cfg.classify.pooling))
            rows.append({"row": len(rows), "case": it.case_id, "patient": it.patient_id})
        emb = np.stack(feats).astype(np.float32)
        np.save(out / "embeddings.npy", emb)
        E.write_csv(out / "embeddings.csv", rows)
        (out / "files.txt").write_text("".join(f"{r['case']}\n" for r in rows), encoding="utf-8")
        return {"n_files": len(rows), "dim": int(emb.shape[1]), "pooling": cfg.classify.pooling,
                "embeddings": "embeddings.npy", "device": str(device)}

    def selection_items(self, path: Path) -> Any:
        return D.selection_items(Path(path))

    def demo_data(self) -> Path:
        from polyclr.modalities.volume.reference import generate_reference

        return generate_reference(n_subjects=12, seed=0)

    def demo_config(self) -> VolumeConfig:
        cfg = VolumeConfig()
        return dataclasses.replace(
            cfg,
            data=dataclasses.replace(cfg.data, spacing=[4.0, 4.0, 4.0], slice_size=[48, 48]),
            net=dataclasses.replace(cfg.net, features=[8, 8, 16, 32, 64, 8]),
            pretrain=dataclasses.replace(cfg.pretrain, strategies=["GD+LD"], global_steps=60,
                                         local_steps=40, volumes_per_batch=3),
            finetune=dataclasses.replace(cfg.finetune, labeled_volumes=[1], combinations=3, steps=40,
                                         classification=False, write_predictions=True,
                                         fully_supervised=False),
        )

    def demo(self, out: Path) -> dict[str, Any]:
        """GD+LD pre-training vs random init, each fine-tuned with the same network, steps and the
        same 3 single-volume label sets; mean Dice on the held-out subjects."""
        res = self.run(self.demo_config(), self.demo_data(), Path(out))
        dice = {m: [r["dice_mean"] for r in res["rows"] if r["method"] == m] for m in ("GD+LD", "random_init")}
        return {"metric": "dice_mean", **demo_stats(dice["GD+LD"], dice["random_init"]),
                "labeled_volumes": 1, "test_volumes": res["test_volumes"], "rows": res["rows"],
                "note": "shows: Dice on held-out subjects after fine-tuning on 1 labelled volume, "
                        "pre-trained vs random init under the same network, steps and labels; does not "
                        "show: clinical accuracy (every subject derives from one template; spread is "
                        "over 3 label sets of one pre-training run)"}

    def summary_line(self, metrics: dict[str, Any]) -> str:
        if "summary" in metrics:
            return "; ".join(f"{r['method']} K={r['labeled_volumes']}: dice {r['dice_mean_mean']:.3f}"
                             f"±{r['dice_mean_std']:.3f}" for r in metrics["summary"])
        return super().summary_line(metrics)


PIPELINE = VolumePipeline()
