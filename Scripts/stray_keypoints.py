"""Gross-error proxy on unlabeled frames: how many frames of a `keypoints batch` JSON Lines file
have a keypoint farther than DISTANCE pixels from the median position of that frame's keypoints.

For one animal whose keypoints lie close together (the openfield mouse: about 100 px from snout
to tail base), such a keypoint is almost always on the wrong spot, so on frames nobody labeled
this counts gross errors. Usage: python3 Scripts/stray_keypoints.py RESULTS.jsonl [DISTANCE=150]
"""
import json
import math
import statistics
import sys


def main():
    path = sys.argv[1]
    distance = float(sys.argv[2]) if len(sys.argv) > 2 else 150.0
    frames = stray = 0
    per_keypoint = {}
    with open(path) as results:
        for line in results:
            record = json.loads(line)
            if "keypoints" not in record:
                continue
            frames += 1
            points = record["keypoints"]
            middle_x = statistics.median(p["x"] for p in points)
            middle_y = statistics.median(p["y"] for p in points)
            far = [p["name"] for p in points if math.hypot(p["x"] - middle_x, p["y"] - middle_y) > distance]
            for name in far:
                per_keypoint[name] = per_keypoint.get(name, 0) + 1
            stray += bool(far)
    print(json.dumps({"frames": frames, "frames_with_stray_keypoint": stray, "per_keypoint": per_keypoint}))


if __name__ == "__main__":
    main()
