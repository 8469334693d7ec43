"""pycocotools' keypoint AP and AR for a ground-truth file and a results file.

Usage: python3 coco_ap.py GROUND_TRUTH.json RESULTS.json [SIGMA ...]
Prints one JSON object {"ap", "ap50", "ap75", "ar"} (area "all", 20 detections per image), the
numbers COCOeval.summarize() prints first. Optional sigmas replace COCO's 17. Exit 3 when
pycocotools is missing (pip install pycocotools).
"""
import contextlib
import io
import json
import sys

try:
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
except ImportError as error:
    print(f"{error}: pip install pycocotools numpy", file=sys.stderr)
    sys.exit(3)


def main():
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(sys.argv[1])
        results = truth.loadRes(sys.argv[2])
        evaluation = COCOeval(truth, results, "keypoints")
        if len(sys.argv) > 3:
            evaluation.params.kpt_oks_sigmas = np.array([float(s) for s in sys.argv[3:]])
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    print(json.dumps({"ap": stats[0], "ap50": stats[1], "ap75": stats[2], "ar": stats[5]}))


if __name__ == "__main__":
    main()
