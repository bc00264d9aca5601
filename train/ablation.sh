#!/usr/bin/env bash
# Objective ablation of the chroma flagship at equal training budget (same steps, batch, data,
# schedule, hints and EMA; only the objective and the semantic head change), then the evaluation
# of every run on kodak24, cbsd68 and tiny-imagenet validation with benchmarks/colour_quality.py.
#   bash train/ablation.sh [DATA_ROOT] [RUNS] [STEPS]     DATA_ROOT defaults to ../shared/data
# Each run resumes if interrupted. Wall-clock and CPU seconds of each run are in its eval_results.json
# ("training.train_seconds").
set -euo pipefail
data_root=${1:-../shared/data}
runs=${2:-runs/ablation}
steps=${3:-1000}
mkdir -p "$runs"

train() {  # name objective [extra arguments]
  local name=$1 objective=$2
  shift 2
  local resume=(--overwrite_output_dir)
  [ -d "$runs/$name/checkpoints" ] && resume=(--resume_from_checkpoint latest)
  [ -f "$runs/$name/model.safetensors" ] && { echo "$name already trained"; return; }
  python train/train.py --model chroma --objective "$objective" --train_data_dir "$data_root/tiny-imagenet" \
    --output_dir "$runs/$name" --resolution 64 --train_batch_size 32 --max_train_steps "$steps" \
    --learning_rate 1e-3 --lr_scheduler cosine --lr_warmup_steps 100 --ema_decay 0.999 \
    --checkpointing_steps 250 --validation_steps 100000 --max_eval_samples 500 --logging_steps 50 \
    --dataloader_num_workers 1 --seed 0 "${resume[@]}" "$@" > "$runs/$name.log" 2>&1
  echo "$(date +%T) $name done: $(grep -o '"train_seconds": [0-9.]*' "$runs/$name/eval_results.json")"
}

for objective in regression classification hybrid; do
  train "$objective-semantic" "$objective" --label_column label
  train "$objective" "$objective"
done

python benchmarks/colour_quality.py --data-root "$data_root" --sets kodak24 cbsd68 tiny-val \
  --temperatures 1.0 0.6 0.38 --edge-aware on off \
  $(for name in regression-semantic regression classification-semantic classification hybrid-semantic hybrid; do
      echo --model "$runs/$name"; done) --output "$runs/results.json" | tee "$runs/results.md"
