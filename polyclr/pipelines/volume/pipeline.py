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

from polyclr.engine import load_encoder, save_encoder
from polyclr.engine.progress import track
from polyclr.errors import CheckpointError, DataError
from polyclr.evaluation import mean_std
from polyclr.pipelines.base import Data, Pipeline, demo_stats
from polyclr.pipelines.volume import data as D
from polyclr.pipelines.volume.config import VolumeConfig, build_net, parse_strategy, validate_config
from polyclr.pipelines.volume.evaluate import (
    classification_rows,
    evaluate_cases,
    finetune_rows,
    finetune_table,
    fully_supervised_rows,
    volume_features,
)
from polyclr.pipelines.volume.train import (
    check_compatible,
    encoder_meta,
    finetune_net,
    load_init,
    pretrain_net,
)
from polyclr.rundir import StageMarkers


def _trained_parts(strategy: str) -> list[str]:
    glob, loc = parse_strategy(strategy)
    return (["encoder"] if glob else []) + (["decoder"] if loc else [])


class VolumePipeline(Pipeline):
    """``polyclr <command> volume``."""

    name = "volume"
    config_class = VolumeConfig

    def open(self, cfg: VolumeConfig, data: Path) -> D.VolumePrepared:
        return D.open_dataset(Path(data))

    def _cases(self, cfg: VolumeConfig, data: Data, out: Path | None
               ) -> tuple[D.VolumePrepared, list[D.Case], dict[str, list[D.Case]]]:
        """Validate the config, open the data once, preprocess and split (``splits.json`` in out)."""
        validate_config(cfg)
        prep = self.opened(cfg, data)
        cases = D.load_cases(cfg, prep, build_net(cfg, 2).divisor)
        return prep, cases, D.split_cases(cfg, cases, out)

    def pretrain(self, cfg: VolumeConfig, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        """Writes ``encoder.safetensors`` (+ stage checkpoints)."""
        out = Path(out)
        _, cases, split = self._cases(cfg, data, out)
        pre = split["pretrain"]
        keep = D.apply_selection(cfg, pre, out)
        net, info = pretrain_net(cfg, pre, cfg.pretrain.strategy, out, D.num_classes(cases), resume, keep=keep)
        save_encoder(out / "encoder.safetensors", net.state_dict(),
                     encoder_meta(cfg, net, cfg.pretrain.strategy, _trained_parts(cfg.pretrain.strategy)))
        if keep is not None:
            info["selection"] = {"method": cfg.selection.method, "kept_slices": int(sum(k.sum() for k in keep)),
                                 "total_slices": int(sum(len(k) for k in keep))}
        return {"strategy": cfg.pretrain.strategy, "pretrain_volumes": len(pre), **info}

    def finetune(self, cfg: VolumeConfig, data: Data, checkpoint: Path | None, out: Path,
                 label_fraction: float | None = None, labeled_volumes: int | None = None) -> dict[str, Any]:
        """K labelled volumes, every combination x seed; test Dice; keeps ``model.safetensors``."""
        out = Path(out)
        prep, cases, split = self._cases(cfg, data, out)
        n_cls = D.num_classes(cases)
        init, meta = load_init(checkpoint)
        if init is not None:
            check_compatible(cfg, meta, n_cls, checkpoint)
        n_train = len(split["train"])
        if labeled_volumes is None and label_fraction is not None:
            labeled_volumes = max(1, round(label_fraction * n_train))
        k = labeled_volumes or cfg.finetune.labeled_volumes[0]
        if not 1 <= k <= n_train:
            raise DataError(prep.path, f"asked for {k} labelled volumes but the training split has {n_train}")
        method = meta.get("objective", {}).get("strategy", "pretrained") if init else "random_init"
        names = D.class_names(prep.path, n_cls)
        rows = finetune_rows(cfg, method, init, split, k, n_cls, names, out / "predictions")
        # keep one fine-tuned model (first combination, first seed) for `evaluate`
        net = build_net(cfg, n_cls)
        if init is not None:
            net.load_state_dict(init)
        first = D.combinations(split["train"], k, 1, cfg.split.split_seed)[0]
        net = finetune_net(cfg, net, first, cfg.finetune.seeds[0], pretrained=init is not None)
        m = encoder_meta(cfg, net, method, ["finetuned"])
        m["task"] = "segmentation"
        save_encoder(out / "model.safetensors", net.state_dict(), m)
        summary = mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"])
        return {"rows": rows, "summary": summary, "test_volumes": len(split["test"])}

    def evaluate(self, cfg: VolumeConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """Dice of a fine-tuned model on the held-out split, masks under ``out/predictions``."""
        out = Path(out)
        prep, cases, split = self._cases(cfg, data, out)
        n_cls = D.num_classes(cases)
        state, meta = load_init(checkpoint)
        if meta.get("task") != "segmentation":
            raise CheckpointError(checkpoint, "not a fine-tuned segmentation model (use the finetune run dir)")
        check_compatible(cfg, meta, n_cls, checkpoint)
        net = build_net(cfg, n_cls)
        net.load_state_dict(state)
        names = D.class_names(prep.path, n_cls)
        dice, per_class, per_case = evaluate_cases(cfg, net, split["test"], n_cls, names, out / "predictions")
        return {"dice_mean": dice, "dice": per_class, "dice_per_test_volume": per_case,
                "test_volumes": [c.item.case_id for c in split["test"]]}

    def run(self, cfg: VolumeConfig, data: Data, out: Path, resume: bool = False) -> dict[str, Any]:
        """Pre-train every strategy, fine-tune at each K, classification, report. Each strategy
        and each fine-tune is a stage with a done marker (``out/stages``); ``resume`` skips the
        finished ones and continues an interrupted pre-training from its last checkpoint."""
        out = Path(out)
        prep, cases, split = self._cases(cfg, data, out)
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
            net, info = pretrain_net(cfg, pre, strategy, out / "pretrain" / safe, n_cls, resume, keep=keep)
            inits[strategy] = copy.deepcopy(net.state_dict())
            save_encoder(path, net.state_dict(), encoder_meta(cfg, net, strategy, _trained_parts(strategy)))
            pretrain_info.append(stages.put(f"pretrain_{safe}", info))
        skipped = [k for k in cfg.finetune.labeled_volumes if k > n_train]
        rows = finetune_table(cfg, split, inits, n_cls, names, out / "predictions", stages)
        if cfg.finetune.fully_supervised:
            rows += fully_supervised_rows(cfg, split, n_cls, names, stages)
        summary = mean_std(rows, ["method", "labeled_volumes"], ["dice_mean"])
        classification = (stages.run("classification", lambda: classification_rows(cfg, split, inits, n_cls))
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

    def embed(self, cfg: VolumeConfig, data: Data, checkpoint: Path, out: Path) -> dict[str, Any]:
        """One frozen-encoder descriptor per volume (``classify.pooling`` of the bottleneck):
        ``out/embeddings.npy`` in file order and ``out/files.txt``."""
        out = Path(out)
        validate_config(cfg)
        state, meta = load_init(checkpoint)
        prep = self.opened(cfg, data)
        n_cls = int(meta.get("encoder", {}).get("out_channels", 2))
        net = build_net(cfg, n_cls)
        check_compatible(cfg, meta, n_cls, checkpoint)
        net.load_state_dict(state)
        cases = D.load_cases(cfg, prep, net.divisor)
        emb = np.stack([volume_features(cfg, net, c, cfg.classify.pooling)
                        for c in track(cases, "embed volumes", unit="volumes")]).astype(np.float32)
        np.save(out / "embeddings.npy", emb)
        (out / "files.txt").write_text("".join(f"{c.item.image}\n" for c in cases), encoding="utf-8")
        return {"n_files": len(cases), "dim": int(emb.shape[1]), "pooling": cfg.classify.pooling,
                "embeddings": "embeddings.npy"}

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
