"""What the Python peers of the benchmarks share: an onnxruntime session on our exported model,
the network input from an RGB frame (letterboxed, ImageNet-normalised, as our models expect), and
the argmax of each heatmap mapped back to frame pixels."""
import numpy as np
import onnxruntime as ort

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]


def session(model, threads):
    """An onnxruntime CPU session with `threads` intra-op threads, and its input (height, width)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    run = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    _, _, height, width = run.get_inputs()[0].shape
    return run, height, width


def letterbox(size, height, width):
    """The scale and the resized size and offsets that letterbox a (width, height) frame."""
    scale = min(width / size[0], height / size[1])
    resized = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    return scale, resized, (width - resized[0]) // 2, (height - resized[1]) // 2


def keypoints(run, canvas, scale, offset_x, offset_y):
    """The network on an RGB canvas (height x width x 3, uint8): each heatmap's argmax in frame pixels."""
    height = canvas.shape[0]
    tensor = (canvas.astype(np.float32).transpose(2, 0, 1) / 255 - MEAN) / STD
    heatmaps = run.run(None, {"input": tensor[None]})[0][0]
    stride = height / heatmaps.shape[1]
    points = []
    for channel in heatmaps:
        y, x = np.unravel_index(int(np.argmax(channel)), channel.shape)
        points.append({"x": float((x * stride - offset_x) / scale), "y": float((y * stride - offset_y) / scale),
                       "score": float(channel[y, x])})
    return points
