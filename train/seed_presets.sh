#!/usr/bin/env bash
# The runs behind the seed presets that shipped without weights until now (issue 11): vanilla-v1, and
# report 5's two GANs, each next to the same generator trained on L1 alone for the same number of steps
# (the control that shows what the adversarial term does). tiny-imagenet at 64x64, batch 32, on a CPU.
#   bash train/seed_presets.sh [DATA] [RUNS] [STEPS] [UNET_GAN_STEPS]
# Each run resumes if interrupted (RUNS/<run>/checkpoints). Ship with release/ship.py afterwards.
# The shipped GANs now come from train/gan_bf16.sh (bf16, 4,000 steps, fixed so that they beat gray); these are
# the first, fp32 runs of 800 / 600 steps that fell 2-4 dB under it.
set -euo pipefail
data=${1:-../shared/data/tiny-imagenet}
runs=${2:-runs/seed}
steps=${3:-800}
unet_steps=${4:-$steps}  # the shipped unet-gan pair ran 600 steps (both at once, one core each) to fit a session
mkdir -p "$runs"

train() {  # run-name preset steps [extra arguments]
  local run=$1 preset=$2 max_steps=$3
  shift 3
  local resume=()
  [ -d "$runs/$run/checkpoints" ] && resume=(--resume_from_checkpoint latest)
  local start=$SECONDS
  python train/train.py --model "$preset" --train_data_dir "$data" --output_dir "$runs/$run" \
    --resolution 64 --train_batch_size 32 --max_train_steps "$max_steps" --learning_rate 5e-4 \
    --lr_scheduler cosine --lr_warmup_steps 50 --checkpointing_steps 100 --validation_steps 100000 \
    --max_eval_samples 500 --logging_steps 25 --dataloader_num_workers 1 --seed 0 "${resume[@]}" "$@" \
    > "$runs/$run.log" 2>&1
  echo "$(date +%T) $run done in $((SECONDS - start)) s: $(grep -o '"psnr": [0-9.]*' "$runs/$run/eval_results.json" | head -1)"
}

train vanilla-v1 vanilla-v1 400
# pix2pix as report 5 did (BCE + 100 x L1, PatchGAN), after an L1-only warm-up of a quarter of the steps;
# the discriminator learns at half the generator's rate so that it does not win outright.
train gan-l1 gan "$steps" --loss l1
train gan gan "$steps" --loss gan --gan_warmup_steps $((steps / 4)) --discriminator_learning_rate 2.5e-4
train unet-gan-l1 unet-gan "$unet_steps" --loss l1
train unet-gan unet-gan "$unet_steps" --loss gan --gan_warmup_steps $((unet_steps / 4)) --discriminator_learning_rate 2.5e-4
