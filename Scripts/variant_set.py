#!/usr/bin/env python3
"""Makes a variant of a measurement set (held_out_split.py's train.csv and test.csv) of a kind
issue 15 asks the recipe to handle: fewer training frames, or every frame in a larger video.

    variant_set.py SET_DIR OUT_DIR --subset N [--seed S]     N training frames drawn with the seed
    variant_set.py SET_DIR OUT_DIR --frame WxH               each image scaled to fit WxH, centred
                                                             on grey (e.g. 1920x1080 HD video)

The held-out frames stay the same frames (rescaled with the rest), so errors compare in each
variant's own pixels; --frame writes the images as PNG into OUT_DIR/images. Needs Pillow for
--frame.
"""
import argparse
import csv
import os
import random


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)


def rescale(header, rows, out, frame):
    from PIL import Image

    width, height = frame
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    scaled = []
    for row in rows:
        with Image.open(row[0]) as image:
            image = image.convert("RGB")
            factor = min(width / image.width, height / image.height)
            size = (round(image.width * factor), round(image.height * factor))
            left, top = (width - size[0]) // 2, (height - size[1]) // 2
            canvas = Image.new("RGB", frame, (128, 128, 128))
            canvas.paste(image.resize(size, Image.LANCZOS), (left, top))
        # Pixel centres: x' = (x + 0.5) * factor - 0.5 + left (the labels' convention).
        name = "_".join(row[0].strip("/").split("/")[-2:]).rsplit(".", 1)[0] + ".png"
        path = os.path.abspath(os.path.join(out, "images", name))
        canvas.save(path)
        new = [path]
        for column, value in zip(header[1:], row[1:]):
            if value == "" or not column.endswith(("_x", "_y")):
                new.append(value)
                continue
            offset = left if column.endswith("_x") else top
            new.append(f"{(float(value) + 0.5) * factor - 0.5 + offset:.3f}")
        scaled.append(new)
    return scaled


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--subset", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frame")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    header, train = read(os.path.join(args.set_dir, "train.csv"))
    test_header, test = read(os.path.join(args.set_dir, "test.csv"))
    if args.subset:
        train = sorted(random.Random(args.seed).sample(train, args.subset))
    if args.frame:
        frame = tuple(int(v) for v in args.frame.lower().split("x"))
        train = rescale(header, train, args.out_dir, frame)
        test = rescale(test_header, test, args.out_dir, frame)
    write(os.path.join(args.out_dir, "train.csv"), header, train)
    write(os.path.join(args.out_dir, "test.csv"), test_header, test)
    print(f"{len(train)} training and {len(test)} held-out frames in {args.out_dir}")


if __name__ == "__main__":
    main()
