#!/usr/bin/env bash
# The runs behind seed reports 2 to 4's comparisons (issue 11): each differs from a shipped preset in one
# thing only, trained with the same settings as that preset's run in train/zoo.sh (tiny-imagenet, batch 32,
# Adam at 5e-4, seed 0), so the table in benchmarks/reports.py compares like with like.
#   bash train/report_variants.sh [DATA] [RUNS] [RUN ...]     RUN defaults to every run below
# Each run resumes if interrupted (RUNS/<run>/checkpoints). Score them with
#   python benchmarks/reports.py --run cifar-ae-l1=RUNS/cifar-ae-l1 ...
set -euo pipefail
data=${1:-../shared/data/tiny-imagenet}
runs=${2:-runs/reports}
shift $(($# < 2 ? $# : 2))
wanted=("$@")
mkdir -p "$runs"

train() {  # run-name preset resolution steps [extra arguments]
  local run=$1 preset=$2 resolution=$3 steps=$4
  shift 4
  if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $run "* ]]; then return; fi
  local resume=()
  [ -d "$runs/$run/checkpoints" ] && resume=(--resume_from_checkpoint latest)
  local start=$SECONDS
  python train/train.py --model "$preset" --train_data_dir "$data" --output_dir "$runs/$run" \
    --resolution "$resolution" --train_batch_size 32 --max_train_steps "$steps" --learning_rate 5e-4 \
    --checkpointing_steps 200 --validation_steps 100000 --max_eval_samples 500 --logging_steps 50 \
    --dataloader_num_workers 1 --preprocessing_num_workers 2 --seed 0 "${resume[@]}" "$@" \
    > "$runs/$run.log" 2>&1
  echo "$(date +%T) $run done in $((SECONDS - start)) s: $(grep -o '"psnr": [0-9.]*' "$runs/$run/eval_results.json" | head -1)"
}

# Report 4: the CIFAR autoencoder's losses and optimisers (the shipped cifar-ae is MSE + Adam, 4,000 bf16 steps
# in train/zoo.sh).
train cifar-ae-l1 cifar-ae 32 4000 --mixed_precision bf16 --loss l1
train cifar-ae-huber cifar-ae 32 4000 --mixed_precision bf16 --loss huber
train cifar-ae-rmsprop cifar-ae 32 4000 --mixed_precision bf16 --optimizer rmsprop
# Report 2: VGG-16 fusion next to the baseline autoencoder (600 steps). No ImageNet VGG-16 can be
# downloaded here, so its backbone trains from scratch with the rest instead of staying frozen.
train ae-vgg16 ae-vgg16 64 600 --config_overrides '{"freeze_backbone": false}'
# Report 3: the small Deep Koalarization with its global branch as the report built it (a frozen ImageNet
# classifier's 1000 logits, tiled and fused: EfficientNet-Lite0 from its PyPI wheel in Inception-ResNet-v2's
# role, fed 224 px) and without any global branch, 3000 bf16 steps each (96k images; the Lite0 run took about
# 1.1 s a step on 2 cores alone, 55 min). The koalarization preset itself (the report's
# encoder and decoder; see its preset for the global branch) shipped after STEPS_KOALARIZATION steps (default
# 400, what one session's CPU allowed next to the other runs).
train koalarization-small-lite0 koalarization-small 64 3000 --mixed_precision bf16 --pretrained_backbone \
  --config_overrides '{"classifier": "efficientnet-lite0", "classifier_image_size": 224}'
# The same branch with each image's logits standardized (mean 0, std 1; Lite0's logits on full photos are 1.6x
# the norm they have on tiny-imagenet crops).
train koalarization-small-lite0-std koalarization-small 64 3000 --mixed_precision bf16 --pretrained_backbone \
  --config_overrides '{"classifier": "efficientnet-lite0", "classifier_image_size": 224, "global_embedding": "standardized"}'
train koalarization-small-no-global koalarization-small 64 3000 --mixed_precision bf16 \
  --config_overrides '{"use_global_features": false}'
train koalarization koalarization 64 "${STEPS_KOALARIZATION:-400}"
