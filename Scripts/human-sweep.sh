#!/usr/bin/env bash
# The short-schedule sweep that chooses the next human model's shape (issue 16): each
# configuration trained for EPOCHS epochs on LSPet's 9600 training images by
# Scripts/train-human.sh (the recipe of the built-in model), then scored on the 400 validation images as shipped (second pass and
# flip test) and with one plain pass. Resumable: a finished configuration is skipped, an
# interrupted one continues from its checkpoint. Prints (and appends to OUT/results.txt) one row
# per configuration: name, parameters, GFLOP/image, train images/s, PCK@0.2 as shipped and plain,
# mean error, wall minutes.
#
#   Scripts/human-sweep.sh OUT [EPOCHS [NAME:OPTIONS...]]   (about 2 hours at 4 epochs on 2 cores)
#
# NAME:OPTIONS replaces the configurations below, e.g. continuing the built-in model at larger
# sizes: "w32-d233:--init human --width 32 --depths 2,3,3 --input 192x192".
set -euo pipefail
out=$(realpath -m "$1") epochs=${2:-4}
cd "$(dirname "$0")/.."
data=$(realpath ../shared/data/lspet)
keypoints=${KEYPOINTS:-.build/release/keypoints}
mkdir -p "$out"
head -1 "$data/derived/lspet_joints_10000.csv" | grep -q '^image,width,height,split,' || {
    echo "expected image,width,height,split,... columns in lspet_joints_10000.csv" >&2
    exit 2
}
awk -F, 'NR == 1 || $4 == "val"' "$data/derived/lspet_joints_10000.csv" >"$out/val.csv"

# name: the shape options
configs=(
    "w24-d222-192:--width 24 --depths 2,2,2 --input 192x192"
    "w32-d222-192:--width 32 --depths 2,2,2 --input 192x192"
    "w24-d343-192:--width 24 --depths 3,4,3 --input 192x192"
    "w32-d222-224:--width 32 --depths 2,2,2 --input 224x224"
)
[ $# -gt 2 ] && configs=("${@:3}")
for config in "${configs[@]}"; do
    name=${config%%:*} shape=${config#*:}
    model=$out/$name.safetensors
    [ -f "$out/$name.done" ] && continue
    start=$(date +%s)
    # shellcheck disable=SC2086
    Scripts/train-human.sh "$model" "$epochs" $shape
    minutes=$(((($(date +%s) - start) + 30) / 60))
    shipped=$("$keypoints" eval --labels "$out/val.csv" --images-root "$data" --model "$model" --json)
    plain=$("$keypoints" eval --labels "$out/val.csv" --images-root "$data" --model "$model" --json \
        --single-pass --no-flip-test)
    info=$("$keypoints" info "$model")
    rate=$(cat "$model.log" "$model.resumed.log" 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* img/s' | tail -1 || true)
    python3 - "$name" "$minutes" "$rate" "$shipped" "$plain" "$info" <<'EOF' | tee -a "$out/results.txt"
import json, re, sys
name, minutes, rate, shipped, plain, info = sys.argv[1:]
s, p = json.loads(shipped), json.loads(plain)
params = re.search(r"Parameters: (\d+)", info).group(1)
gflop = re.search(r"FLOPs per image: ([0-9.]+)", info).group(1)
print(f"{name:<14} {int(params):>9} params {gflop:>6} GFLOP  {rate:>12}  PCK@0.2 shipped {s['pck']['0.2']:.3f}"
      f"  plain {p['pck']['0.2']:.3f}  mean {s['mean_error_px']:.2f} px  {minutes} min")
EOF
    touch "$out/$name.done"
done
