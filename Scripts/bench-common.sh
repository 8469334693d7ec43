# What the batch and video benchmarks share; sourced by Scripts/bench-batch.sh and bench-video.sh.
# Sets `video` (the openfield project's 2330-frame video), `work` (a temporary folder, removed on
# exit) and `keypoints` (a release build); defines rss and wall, which read GNU time -v output.
shared="${KEYPOINTS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
video="$shared/dlc-openfield/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"
[ -f "$video" ] || { echo "video not found at $video (set KEYPOINTS_SHARED_DATA)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
swift build -c release --product keypoints >/dev/null
keypoints="$(swift build -c release --show-bin-path)/keypoints"

# Peak resident set size in KiB, and wall time in seconds, from a `/usr/bin/time -v` report.
rss() { grep "Maximum resident" "$1" | awk '{print $NF}'; }
wall() { grep "Elapsed (wall" "$1" | awk '{print $NF}' | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
