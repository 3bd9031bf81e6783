"""Volume pipeline: global (partition-aware) + local contrastive pre-training on MONAI UNets,
segmentation fine-tuning with K labelled volumes, volume-level classification probe.

Reference: Chaitanya et al., "Contrastive learning of global and local features for medical
image segmentation with limited annotations", NeurIPS 2020.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from polyclr.pipelines.base import CheckReport, Pipeline
from polyclr.pipelines.volume.config import VolumeConfig


class VolumePipeline(Pipeline):
    """``polyclr <command> volume`` (see :mod:`polyclr.pipelines.volume.steps`)."""

    name = "volume"
    config_class = VolumeConfig

    def check(self, cfg: VolumeConfig, data: Path) -> CheckReport:
        from polyclr.pipelines.volume.prepare import check_dataset

        return check_dataset(Path(data))

    def pretrain(self, cfg: VolumeConfig, data: Path, out: Path, resume: bool = False) -> dict[str, Any]:
        from polyclr.pipelines.volume.steps import pretrain_step

        return pretrain_step(cfg, Path(data), Path(out), resume)

    def finetune(self, cfg: VolumeConfig, data: Path, checkpoint: Path | None, out: Path,
                 label_fraction: float | None = None, labeled_volumes: int | None = None) -> dict[str, Any]:
        from polyclr.pipelines.volume.steps import finetune_step

        return finetune_step(cfg, Path(data), checkpoint, Path(out), labeled_volumes, label_fraction)

    def evaluate(self, cfg: VolumeConfig, data: Path, checkpoint: Path, out: Path) -> dict[str, Any]:
        from polyclr.pipelines.volume.steps import evaluate_step

        return evaluate_step(cfg, Path(data), Path(checkpoint), Path(out))

    def run(self, cfg: VolumeConfig, data: Path, out: Path) -> dict[str, Any]:
        from polyclr.pipelines.volume.steps import run_all

        return run_all(cfg, Path(data), Path(out))

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
            finetune=dataclasses.replace(cfg.finetune, labeled_volumes=[1], combinations=2, steps=40,
                                         classification=False, write_predictions=True),
        )

    def demo(self, out: Path) -> dict[str, Any]:
        from polyclr.pipelines.volume.steps import run_all

        res = run_all(self.demo_config(), self.demo_data(), Path(out))
        summary = {r["method"]: r["dice_mean_mean"] for r in res["summary"]}
        return {"metric": "dice_mean", "pretrained": summary["GD+LD"],
                "random_init": summary["random_init"], "labeled_volumes": 1,
                "test_volumes": res["test_volumes"], "rows": res["rows"]}

    def summary_line(self, metrics: dict[str, Any]) -> str:
        if "summary" in metrics:
            return "; ".join(f"{r['method']} K={r['labeled_volumes']}: dice {r['dice_mean_mean']:.3f}"
                             f"±{r['dice_mean_std']:.3f}" for r in metrics["summary"])
        return super().summary_line(metrics)


PIPELINE = VolumePipeline()

__all__ = ["PIPELINE", "VolumeConfig", "VolumePipeline"]
