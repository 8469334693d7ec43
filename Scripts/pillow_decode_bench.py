"""Pillow's decode speed on the same files and passes as `keypoints bench decode`.

Usage: python3 pillow_decode_bench.py [--limit N] [--passes P] [--scale S] PATH...
Prints one JSON object per line, with the keys `keypoints bench decode --json` uses.
Each decode is Image.open + load (+ convert("RGB") when the file is not RGB already); the
reduced mode asks Image.draft for at least 1/scale of each dimension, which JPEG honours with
libjpeg's DCT scaling, as ours does.
"""
import argparse
import json
import os
import statistics
import time

from PIL import Image


def image_files(paths, limit):
    files = []
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if name.startswith(".") or not os.path.isfile(full):
                    continue
                with open(full, "rb") as handle:
                    head = handle.read(8)
                if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
                    files.append(full)
        else:
            files.append(path)
    return files[:limit]


def decode(path, request=None):
    with Image.open(path) as image:
        if request is not None:
            image.draft("RGB", request)
        image.load()
        return image if image.mode == "RGB" else image.convert("RGB")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()
    files = image_files(args.paths, args.limit)
    sizes = [decode(path).size for path in files]  # warm-up pass
    requests = [((w + args.scale - 1) // args.scale, (h + args.scale - 1) // args.scale) for w, h in sizes]
    formats = "+".join(sorted({"png" if open(f, "rb").read(1) == b"\x89" else "jpeg" for f in files}))
    for mode, plan in (("full", [None] * len(files)), ("reduced", requests)):
        seconds = []
        for _ in range(args.passes):
            start = time.perf_counter()
            for path, request in zip(files, plan):
                decode(path, request)
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        print(json.dumps({
            "tool": "pillow", "formats": formats, "files": len(files), "mode": mode,
            "scale": 1 if mode == "full" else args.scale,
            "images_per_s": round(len(files) / median, 1), "median_pass_s": round(median, 4),
        }))


if __name__ == "__main__":
    main()
