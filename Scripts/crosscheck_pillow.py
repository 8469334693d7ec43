"""Compare KeypointKit's decodes with Pillow's, file by file.

Usage: python3 crosscheck_pillow.py MANIFEST.json
The manifest (written by the Swift test PillowCrossCheckTests) lists entries
{"image": path, "ours": path to our decode as binary PPM, "tolerance": max per-sample
difference allowed, "draft": [w, h] or null}. For each, Pillow opens the image, applies
ImageOps.exif_transpose, asks Image.draft for the reduced size when given, and turns the
result into 8-bit RGB the way we define it: alpha (and tRNS) composited onto white with
(c * a + 255 * (255 - a) + 127) // 255. Exit status 0 when every entry is within its
tolerance, 1 otherwise; 3 when Pillow is missing.
"""
import json
import sys

try:
    from PIL import Image, ImageOps
except ImportError:
    print("Pillow is not installed: pip install pillow", file=sys.stderr)
    sys.exit(3)


def read_ppm(path):
    with open(path, "rb") as handle:
        data = handle.read()
    fields = data.split(maxsplit=4)
    assert fields[0] == b"P6" and fields[3] == b"255", path
    width, height = int(fields[1]), int(fields[2])
    return width, height, fields[4][: width * height * 3]


def pillow_rgb(path, draft):
    image = Image.open(path)
    if draft is not None:
        image.draft("RGB", tuple(draft))
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I"):
        # 16-bit grey: Pillow keeps the full value; we round v * 255 / 65535.
        values = [(v * 255 + 32767) // 65535 for v in image.getdata()]
        return image.size, bytes(channel for v in values for channel in (v, v, v))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if not has_alpha:
        return image.size, image.convert("RGB").tobytes()
    rgba = image.convert("RGBA").tobytes()
    out = bytearray(len(rgba) // 4 * 3)
    for i in range(len(rgba) // 4):
        alpha = rgba[4 * i + 3]
        for c in range(3):
            out[3 * i + c] = (rgba[4 * i + c] * alpha + 255 * (255 - alpha) + 127) // 255
    return image.size, bytes(out)


def main():
    entries = json.load(open(sys.argv[1]))
    failures = 0
    for entry in entries:
        width, height, ours = read_ppm(entry["ours"])
        (pillow_width, pillow_height), theirs = pillow_rgb(entry["image"], entry.get("draft"))
        if (width, height) != (pillow_width, pillow_height):
            print(f"FAIL {entry['image']}: size {width}x{height}, Pillow {pillow_width}x{pillow_height}")
            failures += 1
            continue
        worst = max((abs(a - b) for a, b in zip(ours, theirs)), default=0)
        status = "ok  " if worst <= entry["tolerance"] else "FAIL"
        failures += worst > entry["tolerance"]
        print(f"{status} {entry['image']}: {width}x{height}, max difference {worst} (allowed {entry['tolerance']})")
    print(f"{len(entries) - failures} of {len(entries)} files match Pillow")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
