"""The Python pipeline users would write to analyse a video, as a peer for Scripts/bench-video.sh.

Usage: python3 python_video_peer.py MODEL.onnx THREADS VIDEO [FRAMES]
OpenCV's VideoCapture decodes each frame (BGR, turned to RGB), cv2.resize letterboxes it into
the network input (bilinear), numpy normalises it (ImageNet mean and std, as our models),
onnxruntime runs it with THREADS intra-op threads, and the argmax of each heatmap is mapped back
to frame pixels; one JSON line per frame. Stops after FRAMES frames if given. Prints one JSON
object {"frames", "seconds", "frames_per_s"} at the end.
"""
import json
import sys
import time

import cv2
import numpy as np

from peer_common import keypoints, letterbox, session


def main():
    model, threads, video = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    cv2.setNumThreads(threads)
    run, height, width = session(model, threads)
    capture = cv2.VideoCapture(video)
    start = time.perf_counter()
    frames = 0
    with open("/dev/null", "w") as sink:
        while limit is None or frames < limit:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            scale, size, offset_x, offset_y = letterbox((frame.shape[1], frame.shape[0]), height, width)
            canvas = np.zeros((height, width, 3), dtype=np.uint8)
            canvas[offset_y:offset_y + size[1], offset_x:offset_x + size[0]] = cv2.resize(
                frame, size, interpolation=cv2.INTER_LINEAR)
            points = keypoints(run, canvas, scale, offset_x, offset_y)
            sink.write(json.dumps({"video": video, "frame": frames, "keypoints": points}) + "\n")
            frames += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"frames": frames, "seconds": round(seconds, 3), "frames_per_s": round(frames / seconds, 1)}))


if __name__ == "__main__":
    main()
