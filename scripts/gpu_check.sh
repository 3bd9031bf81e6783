#!/usr/bin/env bash
# One short check of polyclr's accelerator paths: pre-trains and fine-tunes a small volume run
# (derived MNI152 reference subjects) and a small time-series run (simulated ECG) with mixed
# precision, then prints the device, the throughput and the metrics of both.
#
#   bash scripts/gpu_check.sh [OUT]                 # GPU, 16-mixed (default OUT: runs/gpu_check)
#   ACCELERATOR=cpu PRECISION=bf16-mixed SCALE=0.05 bash scripts/gpu_check.sh   # same path on a CPU
#
# SCALE multiplies every step budget (1 = the GPU sizes below, a few minutes on one GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${1:-runs/gpu_check}
ACCELERATOR=${ACCELERATOR:-gpu}
PRECISION=${PRECISION:-16-mixed}
SCALE=${SCALE:-1}
steps() { $PY -c "print(max(2, round($1 * $SCALE)))"; }
export HF_HUB_OFFLINE=1 POLYCLR_PROGRESS_SECONDS=${POLYCLR_PROGRESS_SECONDS:-15}
rm -rf "$OUT"
mkdir -p "$OUT"

$PY - <<'EOF'
import platform, torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, python {platform.python_version()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device: {p.name}, {p.total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}")
else:
    print("device: no GPU visible")
EOF

COMMON=(--accelerator "$ACCELERATOR" --devices 1 --precision "$PRECISION")

echo "== time series: COMET on simulated ECG (run: pretrain -> fine-tune at label fractions)"
$PY -c "from polyclr.modalities.timeseries.simulator import write_ecg_npz; \
write_ecg_npz('$OUT/ecg.npz', n_patients=40, trials_per_patient=3, windows_per_trial=8)"
$PY -m polyclr.cli run timeseries --data "$OUT/ecg.npz" --out "$OUT/timeseries" "${COMMON[@]}" \
    --set objective.name=comet --set engine.max_steps="$(steps 600)" --set engine.batch_size=64 \
    --set downstream.finetune_steps="$(steps 200)" --set downstream.label_fractions=[0.1,1.0] \
    --set downstream.seeds=[0] --set downstream.methods=[linear_probe,pretrained,random_init]

echo "== volume: GD+LD on derived MNI152 subjects (run: pretrain -> fine-tune with K volumes)"
DATA=$($PY -c "from polyclr.modalities.volume.reference import generate_reference; \
print(generate_reference(n_subjects=12, seed=0))")
$PY -m polyclr.cli run volume --data "$DATA" --out "$OUT/volume" "${COMMON[@]}" \
    --set data.spacing=[3,3,3] --set data.slice_size=[64,64] \
    --set pretrain.strategies=[GD+LD] --set pretrain.global_steps="$(steps 400)" \
    --set pretrain.local_steps="$(steps 200)" --set pretrain.volumes_per_batch=4 \
    --set finetune.steps="$(steps 300)" --set finetune.labeled_volumes=[1,2] \
    --set finetune.combinations=1 --set finetune.seeds=[0] --set finetune.classification=false

$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
ts = json.loads((out / "timeseries" / "metrics.json").read_text())
print("== summary")
print(f"timeseries pretrain: {ts['pretrain_steps']} steps in {ts['pretrain_seconds']:.1f} s "
      f"= {ts['pretrain_steps'] / ts['pretrain_seconds']:.1f} steps/s, peak GPU {ts['peak_gpu_mb']} MB")
for r in ts["summary"]:
    print(f"  {r['method']:<13} fraction {r['label_fraction']:<5} macro-F1 {r.get('macro_f1_mean')}")
vol = json.loads((out / "volume" / "metrics.json").read_text())
for info in vol["pretrain"]:
    for st in info["stages"]:
        print(f"volume pretrain {info['strategy']} {st['phase']}: {st['steps']} steps in {st['seconds']} s, "
              f"{st['images_per_second']} images/s")
for r in vol["summary"]:
    print(f"  {r['method']:<16} K={r['labeled_volumes']} Dice {r['dice_mean_mean']:.3f}")
print(f"wall: timeseries {ts['wall_seconds']:.0f} s, volume {vol['wall_seconds']:.0f} s")
EOF
