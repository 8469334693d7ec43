#!/usr/bin/env python3
"""Makes a variant of a measurement set (held_out_split.py's train.csv and test.csv) of a kind
issue 15 asks the recipe to handle: fewer training frames, or every frame in a larger video.

    variant_set.py SET_DIR OUT_DIR --subset N [--seed S]     N training frames drawn with the seed
    variant_set.py SET_DIR OUT_DIR --sparse PART:N [--seed S]
                                                             PART labeled in only N training frames
                                                             (drawn with the seed), as a part users
                                                             label only where it shows
    variant_set.py SET_DIR OUT_DIR --frame WxH               each image scaled to fit WxH, centred
                                                             on grey (e.g. 1920x1080 HD video)
    variant_set.py SET_DIR OUT_DIR --align FRONT,BACK --size N
                                                             each image turned about the midpoint of
                                                             two parts so FRONT is straight above
                                                             BACK, scaled by N / its longer side, cut
                                                             to N x N around that point, in grey (an
                                                             aligned insect set, as tracking
                                                             pipelines write them)

The held-out frames stay the same frames (rescaled with the rest), so errors compare in each
variant's own pixels; --frame and --align write the images as PNG into OUT_DIR/images. Needs
Pillow for --frame and --align.
"""
import argparse
import csv
import math
import os
import random


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)


def sparse(header, rows, part, keep, seed):
    """Clears `part`'s label (its x, y and v columns) in all but `keep` of the rows."""
    columns = [i for i, name in enumerate(header) if name in (part + "_x", part + "_y", part + "_v")]
    if len(columns) < 2:
        raise SystemExit(f"no columns {part}_x, {part}_y in the set")
    kept = set(random.Random(seed).sample(range(len(rows)), keep))
    return [row if i in kept else ["" if c in columns else v for c, v in enumerate(row)]
            for i, row in enumerate(rows)]


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


def align(header, rows, out, parts, size):
    """Turns each frame so parts[0] lies straight above parts[1], about their midpoint, scaled by
    size / the frame's longer side, in a size x size grey image; frames missing either part are
    left out. Pillow samples in continuous coordinates (pixel i spans [i, i + 1)), the labels
    have pixel centres on integers, hence the half pixels."""
    from PIL import Image

    columns = [header.index(part + "_x") for part in parts]
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    turned = []
    for row in rows:
        try:
            (fx, fy), (bx, by) = [(float(row[c]), float(row[c + 1])) for c in columns]
        except ValueError:
            continue
        with Image.open(row[0]) as image:
            image = image.convert("L")
            scale = size / max(image.width, image.height)
            # Forward, in continuous coordinates: u' = size/2 + scale R (u - m), R turning the
            # back-to-front vector to point up (angle -90 degrees).
            angle = -math.pi / 2 - math.atan2(fy - by, fx - bx)
            cos, sin = math.cos(angle), math.sin(angle)
            mx, my = (fx + bx) / 2 + 0.5, (fy + by) / 2 + 0.5
            # Pillow wants the inverse: u = m + R^T (u' - size/2) / scale.
            a, b, d, e = cos / scale, sin / scale, -sin / scale, cos / scale
            c = mx - (a + b) * size / 2
            f = my - (d + e) * size / 2
            picture = image.transform((size, size), Image.AFFINE, (a, b, c, d, e, f), Image.BICUBIC, fillcolor=128)
        name = "_".join(row[0].strip("/").split("/")[-2:]).rsplit(".", 1)[0] + ".png"
        path = os.path.abspath(os.path.join(out, "images", name))
        picture.save(path)
        new = [path] + row[1:]
        for column in range(1, len(header) - 1):
            if not header[column].endswith("_x") or row[column] == "" or row[column + 1] == "":
                continue
            x, y = float(row[column]) + 0.5 - mx, float(row[column + 1]) + 0.5 - my
            new[column] = f"{size / 2 + scale * (cos * x - sin * y) - 0.5:.3f}"
            new[column + 1] = f"{size / 2 + scale * (sin * x + cos * y) - 0.5:.3f}"
        turned.append(new)
    return turned


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--subset", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frame")
    parser.add_argument("--sparse", help="PART:N")
    parser.add_argument("--align", help="FRONT,BACK: two parts' names")
    parser.add_argument("--size", type=int, default=192)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    header, train = read(os.path.join(args.set_dir, "train.csv"))
    test_header, test = read(os.path.join(args.set_dir, "test.csv"))
    if args.subset:
        train = sorted(random.Random(args.seed).sample(train, args.subset))
    if args.sparse:
        part, keep = args.sparse.rsplit(":", 1)
        train = sparse(header, train, part, int(keep), args.seed)
    if args.frame:
        frame = tuple(int(v) for v in args.frame.lower().split("x"))
        train = rescale(header, train, args.out_dir, frame)
        test = rescale(test_header, test, args.out_dir, frame)
    if args.align:
        parts = args.align.split(",")
        train = align(header, train, args.out_dir, parts, args.size)
        test = align(test_header, test, args.out_dir, parts, args.size)
    write(os.path.join(args.out_dir, "train.csv"), header, train)
    write(os.path.join(args.out_dir, "test.csv"), test_header, test)
    print(f"{len(train)} training and {len(test)} held-out frames in {args.out_dir}")


if __name__ == "__main__":
    main()
