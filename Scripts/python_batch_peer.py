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
import onnxruntime as ort
from PIL import Image


def main():
    model, threads, frames = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    _, _, height, width = session.get_inputs()[0].shape
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
    start = time.perf_counter()
    with open("/dev/null", "w") as sink:
        for path in frames:
            image = Image.open(path).convert("RGB")
            scale = min(width / image.width, height / image.height)
            resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                   Image.BILINEAR)
            canvas = Image.new("RGB", (width, height))
            offset_x, offset_y = (width - resized.width) // 2, (height - resized.height) // 2
            canvas.paste(resized, (offset_x, offset_y))
            tensor = (np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255 - mean) / std
            heatmaps = session.run(None, {"input": tensor[None]})[0][0]
            stride = height / heatmaps.shape[1]
            points = []
            for channel in heatmaps:
                y, x = np.unravel_index(int(np.argmax(channel)), channel.shape)
                points.append({"x": float((x * stride - offset_x) / scale), "y": float((y * stride - offset_y) / scale),
                               "score": float(channel[y, x])})
            sink.write(json.dumps({"image": path, "keypoints": points}) + "\n")
    seconds = time.perf_counter() - start
    print(json.dumps({"images": len(frames), "seconds": round(seconds, 3), "images_per_s": round(len(frames) / seconds, 1)}))


if __name__ == "__main__":
    main()
