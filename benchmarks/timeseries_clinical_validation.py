"""Fine-tuning settings compared on a *validation* split of a clinical task (never its test split).

The labelled patients are split into train / validation / test (``data.val_size`` of the
patients for validation); the test patients are dropped here, pre-training runs once on the
training patients (pipeline defaults), and every variant fine-tunes the same pre-trained encoder
(and a random-init one) at the given label fractions and seeds, scored on the validation
patients. The settings chosen from this CSV become the pipeline defaults that
``benchmarks/timeseries_clinical.py`` then scores on the test split. Usage:

    OMP_NUM_THREADS=1 python benchmarks/timeseries_clinical_validation.py --task cinc2017 \\
        --variant base= --variant enc01=downstream.encoder_lr_scale=0.1
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timeseries_clinical import configure  # noqa: E402
from timeseries_common import stamp, write_csv  # noqa: E402

from polyclr.config import merge, parse_set  # noqa: E402
from polyclr.engine import load_encoder, seed_everything  # noqa: E402
from polyclr.pipelines.timeseries import data as D  # noqa: E402
from polyclr.pipelines.timeseries import train as T  # noqa: E402
from polyclr.pipelines.timeseries.config import TimeSeriesConfig  # noqa: E402
from polyclr.pipelines.timeseries.evaluate import label_efficiency  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="cinc2017", choices=["cinc2017", "eegmat_count", "eegmat_rest_task"])
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=key=value,key=value (settings of one variant; NAME= alone: the defaults)")
    ap.add_argument("--fractions", default="0.1")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", default="pretrained,random_init")
    ap.add_argument("--val-size", type=float, default=0.2, help="fraction of the patients for validation")
    ap.add_argument("--steps", type=int, default=0, help="pre-training steps (0 = default)")
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="polyclr_clinval_") as tmp:
        ns = argparse.Namespace(steps=a.steps, finetune_steps=0, seeds=a.seeds, methods=a.methods,
                                fractions=a.fractions, set=["engine.logger=none", f"data.val_size={a.val_size}"])
        data, sets = configure(a.task, ns, Path(tmp))
        cfg = merge(TimeSeriesConfig(), parse_set(sets))
        seed_everything(cfg.engine.seed)
        prep = D.prepare(cfg, data, None)
        val = dataclasses.replace(prep, test=prep.val)  # the test patients take no part
        pre = T.pretrain_encoder(cfg, prep, Path(tmp))
        pre.pop("objective_object")
        spec = T.encoder_spec(cfg, prep.data)
        encoder = T.make_encoder(spec)
        encoder.load_state_dict(load_encoder(Path(tmp) / "encoder.safetensors")[0])
        emb_all = T.embed(encoder, prep.data.X)
        st = stamp()
        rows: list[dict] = []
        for spec_v in a.variant or ["defaults="]:
            name, _, kv = spec_v.partition("=")
            overrides = [s for s in kv.split(",") if s]
            cfg_v = merge(copy.deepcopy(cfg), parse_set(overrides))
            t0 = time.perf_counter()
            got = label_efficiency(cfg_v, val, encoder, spec, emb_all=emb_all)
            secs = round(time.perf_counter() - t0, 1)
            rows += [st | {"task": a.task, "split_scored": "validation", "variant": name,
                           "settings": ";".join(s for s in sets + overrides if not s.startswith("data.labels=")),
                           "n_train_windows": len(prep.train_labelled), "n_val_windows": len(prep.val),
                           "pretrain_steps": pre["pretrain_steps"], "variant_seconds": secs} | r for r in got]
            out = write_csv(f"timeseries_clinical_validation_{a.task}{'_' + a.tag if a.tag else ''}.csv", rows)
            f1 = {m: [r["recording_macro_f1"] for r in got if r["method"] == m] for m in ("pretrained", "random_init")}
            print(name, secs, "s", {m: [round(v, 3) for v in vs] for m, vs in f1.items()}, flush=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
