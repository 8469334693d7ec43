#!/usr/bin/env bash
# Builds the C decoders with AddressSanitizer + UBSan and runs them over real PNG and JPEG files
# and damaged copies of them (Tests/CImageShimsSanitized/damaged_files.c): no leak when a decode
# fails half way, no out-of-bounds access, no undefined behaviour. Part of Scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The team's shared datasets sit beside the checkout (../shared/data); KEYPOINTS_SHARED_DATA overrides.
data="${KEYPOINTS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
if [ ! -d "$data" ]; then
    echo "shared datasets not found at $data (set KEYPOINTS_SHARED_DATA)" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc="${CC:-gcc}"
# shellcheck disable=SC2046
"$cc" -std=c11 -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    -I Sources/CImageShims/include $(pkg-config --cflags libpng libjpeg) \
    Tests/CImageShimsSanitized/damaged_files.c Sources/CImageShims/kp_png.c Sources/CImageShims/kp_jpeg.c \
    $(pkg-config --libs libpng libjpeg) -o "$work/damaged_files"
frame="$data/dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/img0000.png"
# Layouts the shared data lacks, made with Pillow: progressive and CMYK JPEG, interlaced RGBA and palette PNG.
python3 - "$frame" "$work" <<'PY'
import sys
from PIL import Image
frame = Image.open(sys.argv[1]).convert("RGB").resize((160, 120))
frame.save(f"{sys.argv[2]}/progressive.jpg", quality=85, progressive=True)
frame.convert("CMYK").save(f"{sys.argv[2]}/cmyk.jpg", quality=85)
frame.convert("RGBA").save(f"{sys.argv[2]}/rgba-adam7.png", interlace=1)
frame.convert("P").save(f"{sys.argv[2]}/palette.png")
PY
files=("$frame" "$data/lspet/images/im00001.jpg" "$work"/progressive.jpg "$work"/cmyk.jpg "$work"/rgba-adam7.png "$work"/palette.png)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$work/damaged_files" "${files[@]}"
