#!/usr/bin/env bash
# Decode speed, ours beside Pillow in the same run, on:
#   - the 100 PNG frames (640x480) of ../shared/data/dlc-openfield,
#   - the first 1000 JPEGs of ../shared/data/lspet (about 250x240 each),
#   - 20 large JPEGs (4000x3000, quality 90) made from the mouse frames in a temporary folder,
#     standing for the 12-megapixel photos reduced-size decoding is meant for.
# Prints images/s full size and at 1/4 size, and the ratios ours / Pillow and reduced / full.
# Needs python3 with Pillow. Usage: bash Scripts/bench-decode.sh [passes]
set -euo pipefail
cd "$(dirname "$0")/.."
passes="${1:-5}"
# The team's shared datasets sit beside the checkout (../shared/data); KEYPOINTS_SHARED_DATA overrides.
shared="${KEYPOINTS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
if [ ! -d "$shared" ]; then
    echo "shared datasets not found at $shared (set KEYPOINTS_SHARED_DATA)" >&2
    exit 2
fi
png_dir="$shared/dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1"
jpeg_dir="$shared/lspet/images"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

swift build -c release --product keypoints >/dev/null
keypoints="$(swift build -c release --show-bin-path)/keypoints"

mkdir -p "$work/large"
python3 - "$png_dir" "$work/large" <<'PY'
import glob, os, sys
from PIL import Image
for index, path in enumerate(sorted(glob.glob(os.path.join(sys.argv[1], "*.png")))[:20]):
    Image.open(path).convert("RGB").resize((4000, 3000), Image.BICUBIC).save(
        os.path.join(sys.argv[2], f"large{index:02d}.jpg"), quality=90)
PY

results="$work/results.jsonl"
for set in "$png_dir" "$jpeg_dir" "$work/large"; do
    "$keypoints" bench decode "$set" --limit 1000 --passes "$passes" --json | sed "s|^{|{\"set\":\"$(basename "$set")\",|" >>"$results"
    python3 Scripts/pillow_decode_bench.py "$set" --limit 1000 --passes "$passes" | sed "s|^{|{\"set\": \"$(basename "$set")\", |" >>"$results"
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
speed = {(r["set"], r["tool"], r["mode"]): r["images_per_s"] for r in rows}
print(f"{'set':<8} {'files':>5} {'mode':<12} {'ours img/s':>11} {'Pillow img/s':>13} {'ours/Pillow':>12} {'ours reduced/full':>18}")
for r in rows:
    if r["tool"] != "keypoints":
        continue
    key = (r["set"], r["mode"])
    ours = r["images_per_s"]
    pillow = speed[(r["set"], "pillow", r["mode"])]
    gain = ours / speed[(r["set"], "keypoints", "full")]
    print(f"{r['set']:<8} {r['files']:>5} {r['mode'] + (' 1/' + str(r['scale']) if r['mode'] == 'reduced' else ''):<12} "
          f"{ours:>11.1f} {pillow:>13.1f} {ours / pillow:>11.2f}x {gain:>17.2f}x")
PY
