#!/usr/bin/env bash
# The runs behind the weights that ship in colorizers/pretrained/: one preset per family, trained on
# tiny-imagenet at 64x64 (32x32 for the CIFAR autoencoder, its native size) on a 2-core CPU.
#   bash train/zoo.sh [DATA] [RUNS]         DATA defaults to ../shared/data/tiny-imagenet
# Each run resumes if interrupted (its checkpoints are kept in RUNS/<preset>/checkpoints).
set -euo pipefail
data=${1:-../shared/data/tiny-imagenet}
runs=${2:-runs/zoo}
mkdir -p "$runs"

train() {  # preset resolution steps [extra arguments]
  local preset=$1 resolution=$2 steps=$3
  shift 3
  local resume=()
  [ -d "$runs/$preset/checkpoints" ] && resume=(--resume_from_checkpoint latest)
  python train/train.py --model "$preset" --train_data_dir "$data" --output_dir "$runs/$preset" \
    --resolution "$resolution" --train_batch_size 32 --max_train_steps "$steps" --learning_rate 5e-4 \
    --checkpointing_steps 200 --validation_steps 100000 --max_eval_samples 500 --logging_steps 50 \
    --dataloader_num_workers 1 --preprocessing_num_workers 2 --seed 0 "${resume[@]}" "$@" \
    > "$runs/$preset.log" 2>&1
  echo "$(date +%T) $preset done: $(grep -o '"psnr": [0-9.]*' "$runs/$preset/eval_results.json" | head -1)"
}

# vanilla-v2 retrained in bf16 for 5x the images of its first run (400 fp32 steps, which fell 0.12 dB under gray
# on cbsd68): 2000 steps, 2 min on 2 cores (beside another training run)
train vanilla-v2 64 2000 --mixed_precision bf16
train resnet18 64 3000
train cifar-ae 32 800
train koalarization-small 64 3000
train ae-baseline 64 600
train strided-unet 64 3000 --mixed_precision bf16  # 5x the images of its first, 600-step fp32 run

# The U-Net was trained on its own (1000 steps, the command recorded in its card):
#   python train/train.py --model unet --train_data_dir "$data" --output_dir runs/unet-tiny-imagenet \
#     --resolution 64 --train_batch_size 32 --max_train_steps 1000 --checkpointing_steps 250 \
#     --validation_steps 500 --max_eval_samples 1000 --logging_steps 25 --dataloader_num_workers 1 \
#     --preprocessing_num_workers 2

# Ship the runs as the presets' bundled weights (half precision), colour predicted at 128 px
# (64 px for the CIFAR autoencoder, which works at 32x32 inside), then rank them:
for preset in vanilla-v2 resnet18 koalarization-small ae-baseline strided-unet; do
  python release/ship.py "$runs/$preset" "$preset" --working-size 128
done
python release/ship.py "$runs/cifar-ae" cifar-ae --working-size 64
[ -d runs/unet-tiny-imagenet ] && python release/ship.py runs/unet-tiny-imagenet unet --working-size 128
python release/leaderboard.py
