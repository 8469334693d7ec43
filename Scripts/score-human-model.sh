#!/usr/bin/env bash
# Issue 16's checks of a human model, as run by default, in one run: PCK@0.2 (torso) on LSPet's
# 400 validation photos as labeled and padded to 1.5x and 2x (Scripts/pad_labeled_images.py), on
# the nine full-body photos from other datasets (Scripts/body_fixtures_as_lsp.py), and on the
# upper-body crops of the validation photos (Scripts/partial_bodies.py): PCK on the joints inside
# the frame, the share of joints outside scored below the model's score_threshold and of those
# inside at or above it (0.4 for a model without one, as docs/MODELS.md measured the old model).
# Then the time per 640x480 photo on one core (`taskset -c 0`, `--jobs 1`: decoding included),
# as run by default.
#
#   bash Scripts/score-human-model.sh MODEL...      e.g. human new-human.safetensors
#
# MODEL is a model file or a built-in name; each gets one table row. KEYPOINTS overrides the
# binary (default .build/release/keypoints). The time is only right on an idle core 0. Needs
# python3 with Pillow, bc, taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
keypoints=$(realpath "${KEYPOINTS:-.build/release/keypoints}")
data=$(realpath ../shared/data)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk -F, 'NR == 1 || $4 == "val"' "$data/lspet/derived/lspet_joints_10000.csv" > "$work/val.csv"
for factor in 1.5 2; do
    python3 Scripts/pad_labeled_images.py "$work/val.csv" "$data/lspet" "$factor" "$work/padded$factor" > /dev/null
done
python3 Scripts/body_fixtures_as_lsp.py "$data/mmpose-testdata" > "$work/unseen.csv"
python3 Scripts/partial_bodies.py crop "$work/val.csv" "$data/lspet" "$work/upper" > /dev/null
mkdir "$work/photos" # SampleImages' portrait on a 640x480 canvas, 20 copies
python3 -c 'import sys; from PIL import Image; c = Image.new("RGB", (640, 480), "gray"); c.paste(Image.open(sys.argv[1]).convert("RGB"), (64, 0)); c.crop((0, 0, 640, 480)).save(sys.argv[2])' \
    SampleImages/astronaut.png "$work/photos/01.png"
for copy in $(seq -w 2 20); do cp "$work/photos/01.png" "$work/photos/$copy.png"; done

pck() { # LABELS ROOT MODEL: PCK@0.2 (torso) of `keypoints eval`
    "$keypoints" eval --labels "$1" --images-root "$2" --model "$3" --threads 1 |
        sed -n 's/.*@0\.2 \([0-9.]*\);.*/\1/p'
}

printf '%-28s %8s %8s %8s %8s %9s %10s %10s %9s\n' model LSPet padded1.5 padded2 unseen "upper PCK" "out below" "in above" "ms/photo"
for model in "$@"; do
    threshold=$("$keypoints" info "$model" | sed -n 's/^Score threshold: \([0-9.]*\).*/\1/p')
    threshold=${threshold:-0.4}
    "$keypoints" batch "$work/upper/images" --model "$model" --out "$work/upper.jsonl" 2> /dev/null
    upper=$(python3 Scripts/partial_bodies.py score "$work/upper" "$work/upper.jsonl" "$threshold")
    inside=$(echo "$upper" | sed -n 's/.*PCK@0.2 (torso) \([0-9.]*\).*/\1/p')
    above=$(echo "$upper" | sed -n 's/.*scored >= [0-9.]*: \([0-9.]*\).*/\1/p')
    below=$(echo "$upper" | sed -n 's/.*scored < [0-9.]*: \([0-9.]*\).*/\1/p')
    start=$(date +%s.%N) # 20 photos, one core (taskset), as run by default
    taskset -c 0 "$keypoints" batch "$work/photos" --model "$model" --out "$work/photos.jsonl" --jobs 1 2> /dev/null
    ms=$(echo "($(date +%s.%N) - $start) * 1000 / 20" | bc -l | xargs printf '%.1f')
    printf '%-28s %8s %8s %8s %8s %9s %10s %10s %9s\n' "$(basename "$model") (t=$threshold)" \
        "$(pck "$work/val.csv" "$data/lspet" "$model")" \
        "$(pck "$work/padded1.5/labels.csv" "$work/padded1.5" "$model")" \
        "$(pck "$work/padded2/labels.csv" "$work/padded2" "$model")" \
        "$(pck "$work/unseen.csv" "$data/mmpose-testdata" "$model")" \
        "$inside" "$below" "$above" "${ms:-?}"
done
