import ArgumentParser
import KeypointKit

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as ONNX (opset 17) for onnxruntime, OpenVINO or ncnn.",
        discussion: """
            Batch norm is folded into the convolutions and CoordConv's coordinates become a constant \
            concatenated to the layer's input. Input "input" [1, C, H, W] takes the normalised image \
            (as detect --dump writes it); output "heatmaps" [1, K, H/s, W/s].
            """
    )

    @Argument(help: "A model file (.safetensors) or a built-in model's name.")
    var model: String

    @Option(help: "Where to write the ONNX file.")
    var onnx: String

    func run() throws {
        try OnnxExport.write(ModelChoice.load(model).model, to: onnx)
    }
}
