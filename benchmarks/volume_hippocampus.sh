#!/usr/bin/env bash
# Hippocampus label efficiency on a CPU: pre-train GD+LD once on the training volumes (test split
# untouched), then fine-tune random init and GD+LD at K = 1 and 2 (3 combinations x 3 seeds, one
# single-thread process per K and seed) plus the fully supervised reference, and merge.
# Seed 0 and the reference run first at normal priority and are merged on their own
# (results/*_hippocampus_seed0.csv); seeds 1 and 2 run niced beside them and the merge of all
# writes results/*_hippocampus.csv. Nothing is tuned: library defaults for fine-tuning, the
# pre-training budget fixed in advance.
# Usage: bash benchmarks/volume_hippocampus.sh [DATA] [RUN_DIR] [--finetune-only]
set -euo pipefail
DATA=${1:-../shared/data/msd_hippocampus}
RUN=${2:-runs/bench_hippocampus}
PY=${PYTHON:-python}
B=benchmarks/volume_label_efficiency.py
if [ "${3:-}" != "--finetune-only" ]; then  # fine-tuning processes read the data meanwhile
  $PY $B --stage test --data "$DATA" --out "$RUN/pre" --tag _hippocampus --inits "$RUN/inits.pt" --pretrain-only &
fi
ft() {  # K seed [nice]
  OMP_NUM_THREADS=1 nice -n "${3:-0}" $PY $B --stage test --data "$DATA" --out "$RUN/k$1_s$2" --tag _tmp_k$1_s$2 \
    --inits "$RUN/inits.pt" --wait-inits --no-full --set "finetune.labeled_volumes=[$1]" --set "finetune.seeds=[$2]"
}
first=("$RUN/k1_s0" "$RUN/k2_s0" "$RUN/full")
ft 1 0 & ft 2 0 &
OMP_NUM_THREADS=1 $PY $B --stage test --data "$DATA" --out "$RUN/full" --tag _tmp_full \
  --inits "$RUN/inits.pt" --wait-inits --set "finetune.labeled_volumes=[]" --set "finetune.seeds=[0]" &
rest=()
for k in 1 2; do for seed in 1 2; do ft $k $seed 19 & rest+=("$RUN/k${k}_s${seed}"); done; done
while [ ! -f "$RUN/k1_s0/metrics_test.json" ] || [ ! -f "$RUN/k2_s0/metrics_test.json" ] \
      || [ ! -f "$RUN/full/metrics_test.json" ]; do sleep 10; done
$PY $B --stage test --merge "${first[@]}" --tag _hippocampus_seed0
wait
$PY $B --stage test --merge "${first[@]}" "${rest[@]}" --tag _hippocampus
rm -f benchmarks/results/*_tmp_*.csv
