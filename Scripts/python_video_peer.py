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
import onnxruntime as ort


def main():
    model, threads, video = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    cv2.setNumThreads(threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    _, _, height, width = session.get_inputs()[0].shape
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
    capture = cv2.VideoCapture(video)
    start = time.perf_counter()
    frames = 0
    with open("/dev/null", "w") as sink:
        while limit is None or frames < limit:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            scale = min(width / frame.shape[1], height / frame.shape[0])
            size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
            resized = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
            canvas = np.zeros((height, width, 3), dtype=np.uint8)
            offset_x, offset_y = (width - size[0]) // 2, (height - size[1]) // 2
            canvas[offset_y:offset_y + size[1], offset_x:offset_x + size[0]] = resized
            tensor = (canvas.astype(np.float32).transpose(2, 0, 1) / 255 - mean) / std
            heatmaps = session.run(None, {"input": tensor[None]})[0][0]
            stride = height / heatmaps.shape[1]
            points = []
            for channel in heatmaps:
                y, x = np.unravel_index(int(np.argmax(channel)), channel.shape)
                points.append({"x": float((x * stride - offset_x) / scale), "y": float((y * stride - offset_y) / scale),
                               "score": float(channel[y, x])})
            sink.write(json.dumps({"video": video, "frame": frames, "keypoints": points}) + "\n")
            frames += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"frames": frames, "seconds": round(seconds, 3), "frames_per_s": round(frames / seconds, 1)}))


if __name__ == "__main__":
    main()
