"""The Python pipeline users would write for `keypoints batch`, as a peer for Scripts/bench-batch.sh.

Usage: python3 python_batch_peer.py MODEL.onnx THREADS FRAME...
For each frame: Pillow decode to RGB, letterbox resize into the network input (Pillow bilinear),
normalise with numpy (ImageNet mean and std, as our models), onnxruntime with THREADS intra-op
threads, argmax per heatmap mapped back to image pixels, one JSON line written per frame.
Prints one JSON object {"images", "seconds", "images_per_s"} at the end.
"""
import json
import sys
import time

import numpy as np
from PIL import Image

from peer_common import keypoints, letterbox, session


def main():
    model, threads, frames = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    run, height, width = session(model, threads)
    start = time.perf_counter()
    with open("/dev/null", "w") as sink:
        for path in frames:
            image = Image.open(path).convert("RGB")
            scale, size, offset_x, offset_y = letterbox(image.size, height, width)
            canvas = Image.new("RGB", (width, height))
            canvas.paste(image.resize(size, Image.BILINEAR), (offset_x, offset_y))
            points = keypoints(run, np.asarray(canvas), scale, offset_x, offset_y)
            sink.write(json.dumps({"image": path, "keypoints": points}) + "\n")
    seconds = time.perf_counter() - start
    print(json.dumps({"images": len(frames), "seconds": round(seconds, 3), "images_per_s": round(len(frames) / seconds, 1)}))


if __name__ == "__main__":
    main()
