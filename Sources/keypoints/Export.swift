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

    @Argument(help: "The model file (.safetensors).")
    var model: String

    @Option(help: "Where to write the ONNX file.")
    var onnx: String

    func run() throws {
        try OnnxExport.write(Model.load(contentsOf: model), to: onnx)
    }
}
