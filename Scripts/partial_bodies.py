"""Issue 16's partial-body check: upper-body crops of a labeled human set (each photo cut below
the hips, so the knees and ankles are out of the frame) and the score of a model's batch output
on them: PCK@0.2 (torso: right shoulder to left hip) on the joints inside the frame, the share of
joints outside the frame scored below the model's score threshold, and of those inside at or
above it.

    python3 Scripts/partial_bodies.py crop LABELS.csv IMAGES_ROOT OUT
    keypoints batch OUT/images --model MODEL --out OUT/results.jsonl
    python3 Scripts/partial_bodies.py score OUT OUT/results.jsonl THRESHOLD

LABELS.csv is a simple CSV with LSP's joint names and x, y, v columns (v 0: not visible), as
../shared/data/lspet/derived/lspet_joints_10000.csv; `awk -F, 'NR == 1 || $4 == "val"'` takes
its 400 validation photos. The cut lies a quarter of the way from the hips down to the knees; a
photo is left out unless both shoulders, hips and knees are labeled, the knees lie at least
10 px below the hips and the cut leaves 32 px. OUT gets images/, and crops.json with every
labeled joint in the crop's pixels and whether it is inside. Needs Pillow.
"""
import csv
import json
import math
import os
import sys

from PIL import Image

JOINTS = ["r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
          "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top"]


def labeled_joints(row, width, height):
    """Visible joints inside the photo, by name: (x, y)."""
    joints = {}
    for name in JOINTS:
        x, y, v = row.get(name + "_x", ""), row.get(name + "_y", ""), row.get(name + "_v", "1")
        if x == "" or y == "" or v == "0":
            continue
        x, y = float(x), float(y)
        if -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5:
            joints[name] = (x, y)
    return joints


def crop(labels, root, out):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    crops, skipped = {}, 0
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            with Image.open(os.path.join(root, row["image"])) as photo:
                photo = photo.convert("RGB")
                joints = labeled_joints(row, photo.width, photo.height)
                needed = ["r_shoulder", "l_shoulder", "r_hip", "l_hip", "r_knee", "l_knee"]
                if not all(name in joints for name in needed):
                    skipped += 1
                    continue
                hips = (joints["r_hip"][1] + joints["l_hip"][1]) / 2
                knees = (joints["r_knee"][1] + joints["l_knee"][1]) / 2
                cut = max(joints["r_hip"][1], joints["l_hip"][1]) + 0.25 * (knees - hips)
                rows = math.floor(cut) + 1  # pixel rows 0..floor(cut) are kept
                if knees - hips < 10 or rows < 32 or rows >= photo.height:
                    skipped += 1
                    continue
                name = os.path.basename(row["image"]).rsplit(".", 1)[0] + ".png"
                photo.crop((0, 0, photo.width, rows)).save(os.path.join(out, "images", name))
            crops[name] = {j: {"x": x, "y": y, "inside": y <= rows - 0.5} for j, (x, y) in joints.items()}
    with open(os.path.join(out, "crops.json"), "w") as f:
        json.dump(crops, f, indent=0)
    print(f"{len(crops)} upper-body crops in {out}/images ({skipped} photos left out)")


def score(out, results, threshold):
    crops = json.load(open(os.path.join(out, "crops.json")))
    found = inside = above = outside = below = 0
    for line in open(results):
        record = json.loads(line)
        name = os.path.basename(record.get("image", ""))
        if name not in crops or "keypoints" not in record:
            continue
        joints = crops.pop(name)
        torso = math.dist(*((joints[j]["x"], joints[j]["y"]) for j in ("r_shoulder", "l_hip")))
        for point in record["keypoints"]:
            truth = joints.get(point["name"])
            if truth is None:
                continue
            if truth["inside"]:
                inside += 1
                above += point["score"] >= threshold
                found += math.dist((point["x"], point["y"]), (truth["x"], truth["y"])) <= 0.2 * torso
            else:
                outside += 1
                below += point["score"] < threshold
    if crops:
        sys.exit(f"{len(crops)} crops have no result in {results}, e.g. {next(iter(crops))}")
    print(f"joints inside the frame: {inside}, PCK@0.2 (torso) {found / inside:.3f}, "
          f"scored >= {threshold}: {above / inside:.3f}")
    print(f"joints outside the frame: {outside}, scored < {threshold}: {below / max(outside, 1):.3f}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "crop":
        crop(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
