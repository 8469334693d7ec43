#!/usr/bin/env python3
"""Writes a labeled set's fixed held-out frames and the rest as two simple CSVs.

    held_out_split.py LABELS OUT_DIR [--test-count N] [--seed S]

LABELS is a DeepLabCut CollectedData CSV (three header rows) or a simple CSV (image,<kp>_x,
<kp>_y[,<kp>_v]..., optional split column). With a split column, its "val"/"validation"/"test"
rows are the held-out frames; otherwise N frames (default: 15% of the set, at least 5) drawn with
the seed. OUT_DIR/train.csv holds the other frames without a split column (so `keypoints train`
chooses its own validation among them, as on a user's project), OUT_DIR/test.csv the held-out
ones; image paths are absolute, missing parts empty with v = 0. Prints the two counts.
"""
import argparse
import csv
import os
import random

HELD_OUT = {"val", "validation", "test"}


def read_deeplabcut(path, rows):
    parts = rows[1]
    coords = rows[2]
    columns = [i for i, c in enumerate(coords) if c in ("x", "y")]
    names = []
    for i in columns:
        if parts[i] not in names:
            names.append(parts[i])
    first = columns[0]
    samples = []
    for row in rows[3:]:
        if not row:
            continue
        image = "/".join(c for c in row[:first] if c)
        points = {}
        for i in columns:
            points.setdefault(parts[i], {})[coords[i]] = row[i] if i < len(row) else ""
        samples.append((image, None, [(points[n]["x"], points[n]["y"], "2") for n in names]))
    return names, samples


def read_simple(rows):
    header = rows[0]
    names = [h[:-2] for h in header if h.endswith("_x")]
    index = {h: i for i, h in enumerate(header)}
    samples = []
    for row in rows[1:]:
        if not row:
            continue
        points = []
        for n in names:
            x, y = row[index[n + "_x"]], row[index[n + "_y"]]
            v = row[index[n + "_v"]] if n + "_v" in index else "2"
            points.append((x, y, v))
        split = row[index["split"]] if "split" in index else None
        samples.append((row[index["image"]], split, points))
    return names, samples


def image_path(image, labels):
    if os.path.isabs(image):
        return image
    folder = os.path.dirname(os.path.abspath(labels))
    for _ in range(4):
        candidate = os.path.join(folder, image)
        if os.path.exists(candidate):
            return candidate
        folder = os.path.dirname(folder)
    raise SystemExit(f"image {image} of {labels} not found")


def write(path, names, samples, labels):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["image"] + [f"{n}_{c}" for n in names for c in "xyv"])
        for image, _, points in samples:
            row = [image_path(image, labels)]
            for x, y, v in points:
                missing = x == "" or y == "" or v == "0"
                row += ["", "", "0"] if missing else [x, y, v]
            out.writerow(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels")
    parser.add_argument("out_dir")
    parser.add_argument("--test-count", type=int)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with open(args.labels, newline="") as f:
        rows = list(csv.reader(f))
    names, samples = read_deeplabcut(args.labels, rows) if rows[0][0] == "scorer" else read_simple(rows)
    if any(split is not None for _, split, _ in samples):
        test = [s for s in samples if (s[1] or "").lower() in HELD_OUT]
        train = [s for s in samples if (s[1] or "").lower() not in HELD_OUT]
    else:
        count = args.test_count or max(5, round(0.15 * len(samples)))
        order = list(range(len(samples)))
        random.Random(args.seed).shuffle(order)
        chosen = set(order[:count])
        test = [s for i, s in enumerate(samples) if i in chosen]
        train = [s for i, s in enumerate(samples) if i not in chosen]
    os.makedirs(args.out_dir, exist_ok=True)
    write(os.path.join(args.out_dir, "train.csv"), names, train, args.labels)
    write(os.path.join(args.out_dir, "test.csv"), names, test, args.labels)
    print(f"{len(train)} train, {len(test)} held out")


if __name__ == "__main__":
    main()
