#!/usr/bin/env bash
# Runs two builds of keypoints on the same inputs and compares every output byte for byte: for
# refactors that must not change results. Usage: Scripts/compare-outputs.sh OLD_BIN NEW_BIN [WORK]
#   detect --json (SampleImages with the human model; 20 openfield frames with the mouse), the
#   detect table, batch csv/jsonl/coco, eval (--json, table, --report, on the batch outputs),
#   export --onnx and info of both built-in models, and two seeded 2-epoch training runs
#   (their logs without the img/s figures, and the models' weights and metadata).
# Exits 1 if anything differs. Needs ../shared/data/dlc-openfield beside the checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2"); work=${3:-$(mktemp -d)}
frames=../shared/data/dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1
labels=$(realpath $frames/CollectedData_Pranav.csv)

outputs() {  # BIN DIR
    local bin=$1 out=$2
    rm -rf "$out"; mkdir -p "$out"
    ls $frames/*.png | head -20 > "$out/frames.txt"
    "$bin" detect --json SampleImages/*.png > "$out/detect_samples.jsonl" 2>&1
    "$bin" detect --json --model mouse $(cat "$out/frames.txt") > "$out/detect_mouse.jsonl" 2>&1
    "$bin" detect --model mouse $(head -3 "$out/frames.txt") > "$out/detect_mouse.txt" 2>&1
    "$bin" batch --quiet --model mouse --format csv --out "$out/batch.csv" @"$out/frames.txt"
    "$bin" batch --quiet --model mouse --format jsonl --out "$out/batch.jsonl" @"$out/frames.txt"
    "$bin" batch --quiet --format coco --out "$out/batch_coco.json" SampleImages
    rm -f "$out"/*.journal
    "$bin" eval --labels "$labels" --model mouse --json --report "$out/report" > "$out/eval.json" 2>&1
    "$bin" eval --labels "$labels" --model mouse > "$out/eval.txt" 2>&1
    "$bin" eval --labels "$labels" --predictions "$out/batch.csv" --json > "$out/eval_csv.json" 2>&1
    "$bin" eval --labels "$labels" --predictions "$out/batch.jsonl" --json > "$out/eval_jsonl.json" 2>&1
    for model in mouse human; do
        "$bin" export $model --onnx "$out/$model.onnx"
        "$bin" info $model > "$out/info_$model.txt" 2>&1
    done
    (cd "$out" && "$bin" train --labels "$labels" --out small.safetensors --epochs 2 --batch 4 --input 128x96 \
        --width 8 --depths 1,1,1 --seed 3 --threads 1 2>&1 | tr '\r' '\n' | grep -v 'img/s' > train_small.log)
    (cd "$out" && "$bin" train --labels "$labels" --out frames.safetensors --epochs 2 --seed 3 --threads 1 \
        --val-fraction 0.9 2>&1 | tr '\r' '\n' | grep -v 'img/s' > train_frames.log)
    rm -f "$out"/*.checkpoint
    # The wall time and the command (it starts with the binary's path) differ by nature.
    for model in "$out"/small.safetensors "$out"/frames.safetensors; do
        python3 - "$model" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
size = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + size])
provenance = json.loads(header["__metadata__"]["provenance"])
provenance.pop("wall_time_s", None)
provenance.pop("command", None)
header["__metadata__"]["provenance"] = json.dumps(provenance, sort_keys=True)
open(path + ".json", "w").write(json.dumps(header, sort_keys=True))
open(path + ".weights", "wb").write(data[8 + size:])
PY
        rm "$model"
    done
}

outputs "$old" "$work/old"
outputs "$new" "$work/new"
different=0
while read -r file; do
    if cmp -s "$work/old/$file" "$work/new/$file"; then echo "same       $file"; else echo "DIFFERENT  $file"; different=1; fi
done < <(cd "$work/old" && find . -type f | sort)
echo "outputs in $work"
exit $different
