import Foundation

/// Writes a model as a standard ONNX graph (opset 17), so onnxruntime, OpenVINO or ncnn can run it.
///
/// Layer by layer: Conv (batch norm folded into its weights and bias), then Add for a residual,
/// then Relu / Clip(0, 6) / LeakyRelu; a CoordConv layer first concatenates its input with a
/// constant initializer holding the x and y channels for its input size. Upsample is Resize
/// (linear, "half_pixel", as the engine); Concat along channels; MaxPool and AveragePool (padding
/// not counted). Input "input" [1, C, H, W], output "heatmaps" [1, K, H / s, W / s].
public enum OnnxExport {
    public static func serialize(_ model: Model) throws -> [UInt8] {
        try model.validate()
        let graph = try LayerGraph(model.architecture)
        var nodes: [ProtoWriter] = []
        var initializers: [ProtoWriter] = []
        var valueNames: [String: String] = ["input": "input"]

        func node(_ op: String, inputs: [String], output: String, attributes: [ProtoWriter] = []) {
            var node = ProtoWriter()
            for input in inputs { node.string(1, input) }
            node.string(2, output)
            node.string(3, output)
            node.string(4, op)
            for attribute in attributes { node.message(5, attribute) }
            nodes.append(node)
        }
        func ints(_ name: String, _ values: [Int]) -> ProtoWriter {
            var attribute = ProtoWriter()
            attribute.string(1, name)
            for value in values { attribute.varint(8, UInt64(bitPattern: Int64(value))) }
            attribute.varint(20, 7)  // INTS
            return attribute
        }
        func int(_ name: String, _ value: Int) -> ProtoWriter {
            var attribute = ProtoWriter()
            attribute.string(1, name)
            attribute.varint(3, UInt64(bitPattern: Int64(value)))
            attribute.varint(20, 2)  // INT
            return attribute
        }
        func string(_ name: String, _ value: String) -> ProtoWriter {
            var attribute = ProtoWriter()
            attribute.string(1, name)
            attribute.bytes(4, Array(value.utf8))
            attribute.varint(20, 3)  // STRING
            return attribute
        }
        func float(_ name: String, _ value: Float) -> ProtoWriter {
            var attribute = ProtoWriter()
            attribute.string(1, name)
            attribute.fixed32(2, value.bitPattern)
            attribute.varint(20, 1)  // FLOAT
            return attribute
        }
        func initializer(_ name: String, _ shape: [Int], _ values: [Float]) {
            var tensor = ProtoWriter()
            for dimension in shape { tensor.varint(1, UInt64(dimension)) }
            tensor.varint(2, 1)  // FLOAT
            tensor.string(8, name)
            var raw = [UInt8]()
            raw.reserveCapacity(values.count * 4)
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw += $0 } }
            tensor.bytes(9, raw)
            initializers.append(tensor)
        }

        for layer in graph.layers {
            let inputs = layer.inputs.map { valueNames[$0]! }
            let output = layer.name
            switch layer.operation {
            case .convolution(let conv):
                let folded = try layer.foldedWeights(model.weights)
                var convInput = inputs[0]
                if conv.coordinates {
                    let input = layer.inputShape
                    initializer(
                        "\(output).coordinates", [1, 2, input.height, input.width],
                        CoordConv.channels(height: input.height, width: input.width))
                    node(
                        "Concat", inputs: [convInput, "\(output).coordinates"], output: "\(output).with_coordinates",
                        attributes: [int("axis", 1)])
                    convInput = "\(output).with_coordinates"
                }
                initializer("\(output).weight", folded.shape, folded.weights)
                initializer("\(output).bias", [folded.shape[0]], folded.bias)
                let shape = conv.shape
                var result = "\(output).conv"
                node(
                    "Conv", inputs: [convInput, "\(output).weight", "\(output).bias"], output: result,
                    attributes: [
                        ints("kernel_shape", [shape.kernelHeight, shape.kernelWidth]),
                        ints("strides", [shape.strideY, shape.strideX]),
                        ints("pads", [shape.padY, shape.padX, shape.padY, shape.padX]),
                        ints("dilations", [shape.dilationY, shape.dilationX]), int("group", shape.groups),
                    ])
                if let residual = conv.residual {
                    node("Add", inputs: [result, valueNames[residual]!], output: "\(output).sum")
                    result = "\(output).sum"
                }
                switch conv.activation {
                case .relu:
                    node("Relu", inputs: [result], output: output)
                case .relu6:
                    initializer("\(output).zero", [], [0])
                    initializer("\(output).six", [], [6])
                    node("Clip", inputs: [result, "\(output).zero", "\(output).six"], output: output)
                case .leakyReLU(let slope):
                    node("LeakyRelu", inputs: [result], output: output, attributes: [float("alpha", slope)])
                case .none:
                    node("Identity", inputs: [result], output: output)
                }
            case .upsample(let factor):
                initializer("\(output).scales", [4], [1, 1, Float(factor), Float(factor)])
                node(
                    "Resize", inputs: [inputs[0], "", "\(output).scales"], output: output,
                    attributes: [
                        string("mode", "linear"), string("coordinate_transformation_mode", "half_pixel"),
                    ])
            case .concat:
                node("Concat", inputs: inputs, output: output, attributes: [int("axis", 1)])
            case .pool(let pooling):
                let (k, stride, padding) = (pooling.kernel, pooling.stride, pooling.padding)
                var attributes = [
                    ints("kernel_shape", [k, k]), ints("strides", [stride, stride]),
                    ints("pads", [padding, padding, padding, padding]),
                ]
                if pooling.kind == .average { attributes.append(int("count_include_pad", 0)) }
                node(
                    pooling.kind == .max ? "MaxPool" : "AveragePool", inputs: inputs, output: output,
                    attributes: attributes)
            }
            valueNames[layer.name] = output
        }
        node("Identity", inputs: [valueNames[graph.output]!], output: "heatmaps")

        func valueInfo(_ name: String, _ shape: [Int]) -> ProtoWriter {
            var dimensions = ProtoWriter()
            for size in shape {
                var dimension = ProtoWriter()
                dimension.varint(1, UInt64(size))
                dimensions.message(1, dimension)
            }
            var tensorType = ProtoWriter()
            tensorType.varint(1, 1)  // FLOAT
            tensorType.message(2, dimensions)
            var type = ProtoWriter()
            type.message(1, tensorType)
            var info = ProtoWriter()
            info.string(1, name)
            info.message(2, type)
            return info
        }
        var onnxGraph = ProtoWriter()
        for node in nodes { onnxGraph.message(1, node) }
        onnxGraph.string(2, "swift-keypoints")
        for tensor in initializers { onnxGraph.message(5, tensor) }
        let (input, output) = (graph.input, graph.outputShape)
        onnxGraph.message(11, valueInfo("input", [1, input.channels, input.height, input.width]))
        onnxGraph.message(12, valueInfo("heatmaps", [1, output.channels, output.height, output.width]))

        var opset = ProtoWriter()
        opset.string(1, "")
        opset.varint(2, 17)
        var file = ProtoWriter()
        file.varint(1, 8)  // IR version 8 (opset 17 era)
        file.string(2, "swift-keypoints")
        file.message(7, onnxGraph)
        file.message(8, opset)
        return file.bytes
    }

    public static func write(_ model: Model, to path: String) throws {
        try writeFileAtomically(serialize(model), to: path)
    }
}

/// Protocol Buffers wire format, just what ONNX needs: varints, fixed32 and length-delimited fields.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func key(_ field: Int, _ wireType: UInt64) { writeVarint(UInt64(field) << 3 | wireType) }

    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, 0)
        writeVarint(value)
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        key(field, 5)
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    mutating func bytes(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        writeVarint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ text: String) { bytes(field, Array(text.utf8)) }

    mutating func message(_ field: Int, _ message: ProtoWriter) { bytes(field, message.bytes) }
}
