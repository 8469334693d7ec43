#!/usr/bin/env python3
"""Finds frames whose left and right labels are the mirror of a model's, clip by clip.

For each labeled frame, PCK@0.2 (the longer side of the labels' box) of a model's predictions
(`keypoints detect --json` or `batch` JSON lines) against the labels as given, and against the
labels with every left/right pair exchanged (parts named with `left`/`right`, `l_`/`r_`, or
`L`/`R` before a digit or the end, as `keypoints train` pairs them). A frame counts as mirrored
when the exchanged labels fit better. Prints one row per clip (the file name up to `_bee`, or
its last run of digits taken out) and the totals.

    python3 Scripts/mirrored_frames.py LABELS.csv PREDICTIONS.jsonl

LABELS.csv is the simple CSV (`image`, `<part>_x`, `_y`, optional `_v`); predictions are matched
to rows by file name.
"""
import csv
import json
import math
import os
import re
import sys

SIDES = [(r"left", "right"), (r"right", "left"), (r"^l_", "r_"), (r"^r_", "l_"),
         (r"L(?=\d|$)", "R"), (r"R(?=\d|$)", "L")]


def partner(name, names):
    for pattern, replacement in SIDES:
        other = re.sub(pattern, replacement, name, count=1)
        if other != name and other in names:
            return other
    return name


def clip(path):
    name = os.path.basename(path)
    return name.split("_bee")[0] if "_bee" in name else re.sub(r"\d+(?=\D*$)", "", name)


def main():
    labels, predictions_path = sys.argv[1:3]
    predictions = {}
    with open(predictions_path) as lines:
        for line in lines:
            record = json.loads(line)
            predictions[os.path.basename(record["image"])] = {
                k["name"]: (k["x"], k["y"]) for k in record["keypoints"]}
    clips = {}
    with open(labels, newline="") as source:
        for row in csv.DictReader(source):
            predicted = predictions.get(os.path.basename(row["image"]))
            if predicted is None:
                continue
            labeled = {p: (float(row[p + "_x"]), float(row[p + "_y"])) for p in predicted
                       if row.get(p + "_x", "") not in ("", "nan") and row.get(p + "_v", "2") != "0"}
            if len(labeled) < 2:
                continue
            xs, ys = [p[0] for p in labeled.values()], [p[1] for p in labeled.values()]
            reach = 0.2 * max(max(xs) - min(xs), max(ys) - min(ys))
            plain = sum(math.dist(predicted[p], q) <= reach for p, q in labeled.items()) / len(labeled)
            exchanged = sum(math.dist(predicted[partner(p, predicted)], q) <= reach
                            for p, q in labeled.items()) / len(labeled)
            counts = clips.setdefault(clip(row["image"]), [0, 0.0, 0.0, 0])
            counts[0] += 1
            counts[1] += plain
            counts[2] += exchanged
            counts[3] += exchanged > plain
    print(f"{'clip':<45} {'frames':>6} {'PCK as labeled':>15} {'exchanged':>10} {'mirrored':>9}")
    for name, (frames, plain, exchanged, mirrored) in sorted(clips.items()):
        print(f"{name[-45:]:<45} {frames:>6} {plain / frames:>15.3f} {exchanged / frames:>10.3f} {mirrored:>9}")
    frames = sum(c[0] for c in clips.values())
    print(f"{'all':<45} {frames:>6} {sum(c[1] for c in clips.values()) / frames:>15.3f} "
          f"{sum(c[2] for c in clips.values()) / frames:>10.3f} {sum(c[3] for c in clips.values()):>9}")


if __name__ == "__main__":
    main()
