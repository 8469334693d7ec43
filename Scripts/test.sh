#!/usr/bin/env bash
# The project's test command (the README's, and what .ci/run runs).
# Needs: Swift 6, libpng and libjpeg development files, python3 with Pillow (for the independent
# decode cross-check in PillowCrossCheckTests), gcc-aarch64-linux-gnu and qemu-user (NEON kernels),
# ffmpeg (test videos), chromium and websocket-client (the report page in a real browser), and
# root with slurm-wlm and munge (a one-node Slurm for the sharded runs).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 Scripts/check_layers.py   # the library's parts use only what docs/ARCHITECTURE.md allows
swift build
swift test
bash Scripts/check-decoder-memory.sh
bash Scripts/test-neon.sh
bash Scripts/slurm-local.sh
