#!/usr/bin/env bash
# Batch throughput: `keypoints batch` beside a Python pipeline doing the same work with common
# tools (Pillow decode + resize, onnxruntime on our exported ONNX model, numpy argmax), in one run,
# at 1 and 2 threads, on frames of the openfield video; and our peak RSS for 100 and for all
# frames (it must not grow with the number of images). Ours runs --single-pass --no-flip-test, one
# network run per image as the peer's; a model that asks for more by default (a second pass
# around the subject, the flip test) also gets a line run as it asks.
#
# Usage: bash Scripts/bench-batch.sh [FRAMES] [MODEL...]
#   FRAMES  frames to extract (default 1000); MODEL model files or built-in names (default: every
#   shipped model, Models/*.safetensors, each in turn; the mouse model was trained on this
#   project's labeled frames: 640x480 input, 4.9 GFLOP).
# Needs: ffmpeg (Debian), python3 with pillow numpy onnxruntime, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-1000}"
source Scripts/bench-common.sh
shift $(( $# > 0 ? 1 : 0 ))
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    for file in Models/*.safetensors; do models+=("$(basename "$file" .safetensors)"); done
fi

mkdir -p "$work/frames" "$work/first100"
ffmpeg -loglevel error -i "$video" -frames:v "$count" "$work/frames/%05d.png"
for frame in $(ls "$work/frames" | head -100); do ln -s "$work/frames/$frame" "$work/first100/$frame"; done

for model in "${models[@]}"; do
    "$keypoints" export "$model" --onnx "$work/model.onnx"
    echo "frames: $(ls "$work/frames" | wc -l) PNG, 640x480; model: $model"
    printf '%-8s %-22s %12s %14s\n' threads pipeline images/s "peak RSS MiB"
    for threads in 1 2; do
        /usr/bin/time -v "$keypoints" batch "$work/frames" --model "$model" --out "$work/ours$threads.jsonl" \
            --jobs "$threads" --quiet --single-pass --no-flip-test 2>"$work/time$threads.txt"
        ours=$(python3 -c "print(round($count / $(wall "$work/time$threads.txt"), 1))")
        peer=$(python3 Scripts/python_batch_peer.py "$work/model.onnx" "$threads" "$work"/frames/*.png | python3 -c "import json,sys; print(json.load(sys.stdin)['images_per_s'])")
        printf '%-8s %-22s %12s %14s\n' "$threads" "keypoints batch" "$ours" "$(( $(rss "$work/time$threads.txt") / 1024 ))"
        printf '%-8s %-22s %12s %14s\n' "$threads" "Python (Pillow+ORT)" "$peer" "-"
        python3 -c "print(f'{\"\":8} ours / Python: {$ours / $peer:.2f}x')"
        if "$keypoints" info "$model" | grep -q -e "^Second pass" -e "^Flip test"; then
            /usr/bin/time -v "$keypoints" batch "$work/frames" --model "$model" --out "$work/twice$threads.jsonl" \
                --jobs "$threads" --quiet 2>"$work/twice$threads.txt"
            twice=$(python3 -c "print(round($count / $(wall "$work/twice$threads.txt"), 1))")
            printf '%-8s %-22s %12s %14s\n' "$threads" "keypoints, as asked" "$twice" "$(( $(rss "$work/twice$threads.txt") / 1024 ))"
        fi
    done
    /usr/bin/time -v "$keypoints" batch "$work/first100" --model "$model" --out "$work/small.jsonl" --quiet 2>"$work/time100.txt"
    echo "peak RSS: $(ls "$work/first100" | wc -l) frames $(( $(rss "$work/time100.txt") / 1024 )) MiB, $count frames $(( $(rss "$work/time2.txt") / 1024 )) MiB (2 jobs both)"
done
