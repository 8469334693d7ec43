"""Issue 16's partial-body check: upper-body crops of a labeled human set (each photo cut below
the hips, so the knees and ankles are out of the frame) and the score of a model's batch output
on them: PCK@0.2 (torso: right shoulder to left hip) on the joints inside the frame, the share of
joints outside the frame scored below the model's score threshold, and of those inside at or
above it.

    python3 Scripts/partial_bodies.py crop LABELS.csv IMAGES_ROOT OUT
    keypoints batch OUT/images --model MODEL --out OUT/results.jsonl
    python3 Scripts/partial_bodies.py score OUT OUT/results.jsonl THRESHOLD
    python3 Scripts/partial_bodies.py separation OUT OUT/results.jsonl

`separation` asks how well the scores tell the joints inside from those outside whatever the
threshold: the AUC (the chance that an inside joint outscores an outside one), the threshold
that maximises the sum of the two shares, and the share of outside joints below the highest
threshold that keeps 90% of the inside ones at or above it (the issue's two floors together).

LABELS.csv is a simple CSV with LSP's joint names and x, y, v columns (v 0: not visible), as
../shared/data/lspet/derived/lspet_joints_10000.csv; `awk -F, 'NR == 1 || $4 == "val"'` takes
its 400 validation photos. The cut lies a quarter of the way from the hips down to the knees; a
photo is left out unless both shoulders, hips and knees are labeled, the knees lie at least
10 px below the hips and the cut leaves 32 px. OUT gets images/, and crops.json with every
labeled joint in the crop's pixels and whether it is inside. Needs Pillow.
"""
import bisect
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


def scored_joints(out, results):
    """Each labeled joint of every crop with its prediction: (truth, point, torso length)."""
    crops = json.load(open(os.path.join(out, "crops.json")))
    joints = []
    for line in open(results):
        record = json.loads(line)
        name = os.path.basename(record.get("image", ""))
        if name not in crops or "keypoints" not in record:
            continue
        labeled = crops.pop(name)
        torso = math.dist(*((labeled[j]["x"], labeled[j]["y"]) for j in ("r_shoulder", "l_hip")))
        joints += [(labeled[p["name"]], p, torso) for p in record["keypoints"] if p["name"] in labeled]
    if crops:
        sys.exit(f"{len(crops)} crops have no result in {results}, e.g. {next(iter(crops))}")
    return joints


def score(out, results, threshold):
    found = inside = above = outside = below = 0
    for truth, point, torso in scored_joints(out, results):
        if truth["inside"]:
            inside += 1
            above += point["score"] >= threshold
            found += math.dist((point["x"], point["y"]), (truth["x"], truth["y"])) <= 0.2 * torso
        else:
            outside += 1
            below += point["score"] < threshold
    print(f"joints inside the frame: {inside}, PCK@0.2 (torso) {found / inside:.3f}, "
          f"scored >= {threshold}: {above / inside:.3f}")
    print(f"joints outside the frame: {outside}, scored < {threshold}: {below / max(outside, 1):.3f}")


def separation(out, results):
    joints = scored_joints(out, results)
    inside = sorted(p["score"] for truth, p, _ in joints if truth["inside"])
    outside = sorted(p["score"] for truth, p, _ in joints if not truth["inside"])
    if not inside or not outside:
        sys.exit("separation needs joints both inside and outside the frames")

    def shares(t):  # inside at or above t, outside below t (both lists sorted)
        return (1 - bisect.bisect_left(inside, t) / len(inside), bisect.bisect_left(outside, t) / len(outside))

    # An inside joint beats the outside ones scored below it and ties half those scored the same.
    below = [bisect.bisect_left(outside, s) for s in inside]
    ties = [bisect.bisect_right(outside, s) - b for s, b in zip(inside, below)]
    wins = sum(below) + 0.5 * sum(ties)
    balanced = max(sorted(set(inside + outside)), key=lambda t: sum(shares(t)))
    keeps90 = inside[int(0.1 * len(inside))]  # the highest threshold with 90% of inside at or above
    print(f"joints inside {len(inside)}, outside {len(outside)}: AUC {wins / (len(inside) * len(outside)):.3f}")
    print("balanced threshold {:.3f}: inside above {:.3f}, outside below {:.3f}".format(balanced, *shares(balanced)))
    print("threshold {:.3f} keeps {:.3f} of inside: outside below {:.3f}".format(keeps90, *shares(keeps90)))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "crop":
        crop(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "separation":
        separation(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
