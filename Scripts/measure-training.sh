#!/usr/bin/env bash
# Trains on a set's training frames and scores the model on its fixed held-out frames, once per
# seed, and prints one row per run: what docs/TRAINING.md's recipe and transfer tables come from.
#
#   Scripts/measure-training.sh SET_DIR OUT_DIR "SEEDS" [TRAIN OPTIONS...]
#
# SET_DIR holds train.csv and test.csv (Scripts/held_out_split.py makes them); each run trains
# with `keypoints train --labels SET_DIR/train.csv --seed S` plus the options given (none: the
# defaults, as a new user runs it), then `keypoints eval` on test.csv. Row: seed, wall seconds,
# peak RSS MiB, held-out mean and median pixel error, PCK@0.2 (longer side of the labels' box),
# the validation error train chose its epoch by. KEYPOINTS overrides the binary.
set -euo pipefail
set_dir=$1 out_dir=$2 seeds=$3
shift 3
keypoints=${KEYPOINTS:-$(dirname "$0")/../.build/release/keypoints}
mkdir -p "$out_dir"
printf '%-5s %7s %7s %10s %12s %8s %14s\n' seed wall_s rss_MiB mean_px median_px pck0.2 validation_px
for seed in $seeds; do
    model=$out_dir/seed$seed.safetensors
    rm -f "$model" "$model.checkpoint"
    /usr/bin/time -f '%e %M' -o "$out_dir/seed$seed.time" \
        "$keypoints" train --labels "$set_dir/train.csv" --out "$model" --seed "$seed" "$@" \
        2>"$out_dir/seed$seed.log"
    "$keypoints" eval --model "$model" --labels "$set_dir/test.csv" --json >"$out_dir/seed$seed.eval.json"
    read -r wall rss <"$out_dir/seed$seed.time"
    validation=$(grep -o 'validation mean error [0-9.]* px' "$out_dir/seed$seed.log" | tail -1 | awk '{print $4}')
    python3 - "$out_dir/seed$seed.eval.json" "$seed" "$wall" "$rss" "${validation:--}" <<'EOF'
import json, sys
path, seed, wall, rss, validation = sys.argv[1:]
d = json.load(open(path))
pck = d["pck"]
at = next((p["pck"] for p in pck if abs(p["threshold"] - 0.2) < 1e-9), float("nan")) if isinstance(pck, list) else pck.get("0.2")
print(f"{seed:<5} {float(wall):7.0f} {int(rss) / 1024:7.0f} {d['mean_error_px']:10.2f} {d['median_error_px']:12.2f} {at:8.3f} {validation:>14}")
EOF
done
