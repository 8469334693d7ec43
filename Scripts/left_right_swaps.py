#!/usr/bin/env python3
"""Finds labels whose left and right disagree with a model's, limb group by limb group.

LSPet's labels come from Amazon Mechanical Turk, and some workers marked left and right from
their own point of view instead of the person's. This compares each image's labels with a
model's predictions (`keypoints batch` JSON lines) per group: the arms (shoulders, elbows,
wrists) and the legs (hips, knees, ankles). A group counts as swapped when, with its left and
right labels exchanged, at least 3 more of its 6 labeled joints lie within a tenth of the longer
side of the labels' box of the prediction. It prints the counts; with --write it also writes the
labels with those groups exchanged (rows of other splits unchanged).

    python3 Scripts/left_right_swaps.py LABELS.csv PREDICTIONS.jsonl SPLIT [--write OUT.csv]

LABELS.csv is the simple CSV (`image`, `split`, `<joint>_x`, `_y`, `_v`, joints named `l_...` and
`r_...`); predictions are matched to rows by file name.
"""
import argparse
import csv
import json
import math
import os

GROUPS = {"arms": ("shoulder", "elbow", "wrist"), "legs": ("hip", "knee", "ankle")}


def mirrored(name):
    return {"l_": "r_", "r_": "l_"}.get(name[:2], name[:2]) + name[2:]


def swapped_groups(row, predicted):
    """The groups of one labeled row that agree with the prediction better exchanged."""
    labeled = {}
    for joint in predicted:
        if row.get(joint + "_v", "0") not in ("", "0"):
            labeled[joint] = (float(row[joint + "_x"]), float(row[joint + "_y"]))
    if len(labeled) < 2:
        return []
    xs, ys = [p[0] for p in labeled.values()], [p[1] for p in labeled.values()]
    reach = 0.1 * max(max(xs) - min(xs), max(ys) - min(ys))

    def hits(joints, exchange):
        return sum(
            1 for joint in joints if joint in labeled
            and math.dist(predicted[mirrored(joint) if exchange else joint], labeled[joint]) <= reach)

    groups = []
    for group, parts in GROUPS.items():
        joints = [side + part for part in parts for side in ("l_", "r_")]
        if hits(joints, True) >= hits(joints, False) + 3:
            groups.append(group)
    return groups


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("labels")
    parser.add_argument("predictions")
    parser.add_argument("split")
    parser.add_argument("--write")
    args = parser.parse_args()
    predictions = {}
    with open(args.predictions) as lines:
        for line in lines:
            record = json.loads(line)
            if "keypoints" in record:
                predictions[os.path.basename(record["image"])] = {
                    k["name"]: (k["x"], k["y"]) for k in record["keypoints"]}
    with open(args.labels, newline="") as source:
        reader = csv.DictReader(source)
        fields, rows = reader.fieldnames, list(reader)
    counts = {"images": 0, "arms": 0, "legs": 0, "both": 0}
    for row in rows:
        predicted = predictions.get(os.path.basename(row["image"]))
        if row["split"] != args.split or predicted is None:
            continue
        counts["images"] += 1
        groups = swapped_groups(row, predicted)
        for group in groups:
            counts[group] += 1
            original = dict(row)
            for part in GROUPS[group]:
                for side in ("l_", "r_"):
                    for suffix in ("_x", "_y", "_v"):
                        row[side + part + suffix] = original[mirrored(side + part) + suffix]
        counts["both"] += len(groups) == 2
    print(f"{args.split}: {counts['images']} images predicted; left and right exchanged fit better for "
          f"the arms of {counts['arms']}, the legs of {counts['legs']}, both in {counts['both']}")
    if args.write:
        with open(args.write, "w", newline="") as target:
            writer = csv.DictWriter(target, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
