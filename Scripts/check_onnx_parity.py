"""Run an exported model in onnxruntime and compare with our heatmaps.

Usage: python3 check_onnx_parity.py MODEL.onnx NAME.input.npy NAME.heatmaps.npy
The .npy files are what `keypoints detect --dump` writes. Passes (exit 0) when
max |ours - onnxruntime| <= 1e-4 * max |ours|; prints both numbers. Exit 3 when
onnxruntime or numpy is missing (pip install onnx onnxruntime numpy).
"""
import sys

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as error:
    print(f"{error}: pip install onnx onnxruntime numpy", file=sys.stderr)
    sys.exit(3)


def main():
    model, input_path, heatmaps_path = sys.argv[1:4]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    theirs = session.run(["heatmaps"], {"input": np.load(input_path)})[0]
    ours = np.load(heatmaps_path)
    if theirs.shape != ours.shape:
        print(f"FAIL shapes differ: onnxruntime {theirs.shape}, ours {ours.shape}")
        sys.exit(1)
    difference = float(np.max(np.abs(theirs - ours)))
    scale = float(np.max(np.abs(ours)))
    bound = 1e-4 * scale
    print(f"max |difference| {difference:.3g}, max |heatmap| {scale:.3g}, bound {bound:.3g}: "
          + ("ok" if difference <= bound else "FAIL"))
    sys.exit(0 if difference <= bound else 1)


if __name__ == "__main__":
    main()
