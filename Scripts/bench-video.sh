#!/usr/bin/env bash
# Video throughput: `keypoints batch VIDEO` beside a Python pipeline doing the same work with the
# usual tools (OpenCV VideoCapture decode, onnxruntime on our exported ONNX model, numpy argmax),
# in one run, at 1 and 2 threads, on the 2330-frame openfield video (640x480 H.264); and our
# peak RSS for its first 500 frames and for all of them (it must not grow with the video).
# Ours runs --single-pass --no-flip-test, one network run per frame as the peer's; a model that
# asks for more by default (the flip test) also gets a line run as it asks.
#
# Usage: bash Scripts/bench-video.sh [MODEL]   (default: the built-in mouse model)
# Needs: python3 with opencv-python-headless numpy onnxruntime, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-mouse}"
source Scripts/bench-common.sh
"$keypoints" export "$model" --onnx "$work/model.onnx"

frames() { grep -c '"frame"' "$1"; }
echo "video: $(basename "$video"), model: $model"
printf '%-8s %-26s %10s %14s\n' threads pipeline frames/s "peak RSS MiB"
for threads in 1 2; do
    /usr/bin/time -v "$keypoints" batch "$video" --model "$model" --out "$work/ours$threads.jsonl" --jobs "$threads" \
        --quiet --single-pass --no-flip-test 2>"$work/time$threads.txt"
    count=$(frames "$work/ours$threads.jsonl")
    ours=$(python3 -c "print(round($count / $(wall "$work/time$threads.txt"), 1))")
    /usr/bin/time -v python3 Scripts/python_video_peer.py "$work/model.onnx" "$threads" "$video" \
        >"$work/peer$threads.json" 2>"$work/peertime$threads.txt"
    peer=$(python3 -c "import json; print(json.load(open('$work/peer$threads.json'))['frames_per_s'])")
    printf '%-8s %-26s %10s %14s\n' "$threads" "keypoints batch ($count)" "$ours" "$(( $(rss "$work/time$threads.txt") / 1024 ))"
    printf '%-8s %-26s %10s %14s\n' "$threads" "Python (OpenCV+ORT)" "$peer" "$(( $(rss "$work/peertime$threads.txt") / 1024 ))"
    python3 -c "print(f'{\"\":8} ours / Python: {$ours / $peer:.2f}x')"
    if "$keypoints" info "$model" | grep -q -e "^Second pass" -e "^Flip test"; then
        /usr/bin/time -v "$keypoints" batch "$video" --model "$model" --out "$work/asked$threads.jsonl" \
            --jobs "$threads" --quiet 2>"$work/asked$threads.txt"
        asked=$(python3 -c "print(round($count / $(wall "$work/asked$threads.txt"), 1))")
        printf '%-8s %-26s %10s %14s\n' "$threads" "keypoints, as asked" "$asked" "$(( $(rss "$work/asked$threads.txt") / 1024 ))"
    fi
done
/usr/bin/time -v "$keypoints" batch "$video" --model "$model" --out "$work/first500.jsonl" --frames 0:500 --jobs 2 \
    --quiet --single-pass --no-flip-test 2>"$work/time500.txt"
echo "peak RSS: 500 frames $(( $(rss "$work/time500.txt") / 1024 )) MiB, $(frames "$work/ours2.jsonl") frames $(( $(rss "$work/time2.txt") / 1024 )) MiB (2 jobs both)"
