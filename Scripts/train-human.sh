#!/usr/bin/env bash
# Trains a human model on LSPet's 9600 training images (the split column of
# ../shared/data/lspet/derived/lspet_joints_10000.csv; its 400 val images validate), or continues
# the run from MODEL.checkpoint when one is there: the recipe of the built-in human model (issue
# 16), in one place for the shape sweep (Scripts/human-sweep.sh) and the long run.
#
#   Scripts/train-human.sh MODEL EPOCHS [OPTIONS...]     e.g. --width 32 --depths 2,2,2 --input 192x192
#
# OPTIONS come after the recipe's, so they also replace its settings (the last of an option wins),
# e.g. --heatmap-stride 2 --sigma 4, or --labels OTHER.csv.
# Safe to rerun after a kill or a restart: it resumes (with the EPOCHS given, so a finished run
# can be extended). The log goes to MODEL.log (MODEL.resumed.log when resuming). KEYPOINTS
# overrides the binary.
set -euo pipefail
model=$(realpath -m "$1") epochs=$2
shift 2
cd "$(dirname "$0")/.."
data=$(realpath ../shared/data/lspet)
keypoints=${KEYPOINTS:-.build/release/keypoints}
if [ -f "$model.checkpoint" ]; then
    exec "$keypoints" train --resume "$model.checkpoint" --out "$model" --epochs "$epochs" 2>>"$model.resumed.log"
fi
exec "$keypoints" train --labels "$data/derived/lspet_joints_10000.csv" --images-root "$data" --out "$model" \
    --epochs "$epochs" --batch 16 --learning-rate 2e-3 --sigma 2 --foreground-weight 10 --seed 1 \
    --average-decay 0.999 --zoom 0.6,1.3 --cutoff 0.3 --second-pass 2 --flip-test --best-by pck "$@" \
    2>"$model.log"
