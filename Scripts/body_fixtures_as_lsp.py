"""Writes the single-person body images among mmpose's test fixtures (../shared/data/
mmpose-testdata: 5 MPII, 1 COCO, 3 JHMDB) as a simple CSV with LSP's 14 joint names, so the
human model can be scored on photos from datasets it never saw:

    python3 Scripts/body_fixtures_as_lsp.py ../shared/data/mmpose-testdata > unseen.csv
    keypoints eval --labels unseen.csv --model human

Joints a dataset lacks (COCO: neck and head top; JHMDB: head top, its "head" is the head's
centre) are left empty, so they are not scored. MPII's upper neck stands for LSP's neck.
"""
import csv
import json
import os
import sys

LSP = ["r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
       "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top"]
MPII = ["r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", None, None, "neck", "head_top",
        "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"]


def lsp_name(name):
    """COCO/JHMDB names (left_knee, right_shoulder, neck) as LSP's (l_knee, r_shoulder, neck)."""
    for side in ("left", "right"):
        if name.startswith(side + "_"):
            name = side[0] + "_" + name[len(side) + 1:]
    return name if name in LSP else None


def coco_people(path, folder, image_ids=None):
    data = json.load(open(path))
    names = data["categories"][0]["keypoints"]
    files = {image["id"]: image["file_name"] for image in data["images"]}
    for annotation in data["annotations"]:
        if image_ids is not None and annotation["image_id"] not in image_ids:
            continue
        values = annotation["keypoints"]
        points = {lsp_name(n): (values[3 * i], values[3 * i + 1])
                  for i, n in enumerate(names) if lsp_name(n) and values[3 * i + 2] > 0}
        yield f"{folder}/{files[annotation['image_id']]}", points


def main():
    root = os.path.abspath(sys.argv[1]) + "/tests/data"
    people = []
    for entry in json.load(open(f"{root}/mpii/test_mpii.json")):
        points = {n: tuple(xy) for n, xy, v in zip(MPII, entry["joints"], entry["joints_vis"]) if n and v}
        people.append((f"{root}/mpii/{entry['image']}", points))
    people += coco_people(f"{root}/coco/test_coco.json", f"{root}/coco", image_ids={785})  # the one lone person
    people += coco_people(f"{root}/jhmdb/test_jhmdb_sub1.json", f"{root}/jhmdb")
    out = csv.writer(sys.stdout)
    out.writerow(["image"] + [f"{n}_{c}" for n in LSP for c in ("x", "y")])
    for image, points in people:
        out.writerow([image] + [v for n in LSP for v in points.get(n, ("", ""))])


main()
