/// A feature map's size.
public struct MapShape: Equatable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(channels: Int, height: Int, width: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
    }

    public var count: Int { channels * height * width }
    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// An `Architecture` resolved once: every layer typed, with non-optional fields and its input and
/// output shapes checked. The engine (`Network`), training (`TrainingGraph`), ONNX export and
/// `keypoints info` all read this form; only `init` reads the file format's optional fields.
public struct LayerGraph: Sendable {
    /// A convolution layer: convolution (with CoordConv's two extra input channels if
    /// `coordinates`), then batch norm or a bias, then the residual add, then the activation.
    public struct ConvolutionLayer: Equatable, Sendable {
        /// The convolution over the layer's image channels (the coordinate channels excluded).
        public var shape: ConvolutionShape
        public var coordinates: Bool
        public var batchNorm: Bool
        /// The layer whose output is added before the activation.
        public var residual: String?
        public var activation: Activation

        /// The convolution over every input channel, the coordinate channels included: what the
        /// weight tensor holds and what training convolves.
        public var fullShape: ConvolutionShape {
            var full = shape
            full.inChannels += coordinates ? 2 * shape.groups : 0
            return full
        }
    }

    public enum Operation: Equatable, Sendable {
        case convolution(ConvolutionLayer)
        /// Bilinear, by an integer factor, half-pixel centres (see `Upsampling`).
        case upsample(factor: Int)
        /// Along channels, in the order of the layer's inputs.
        case concat
        case pool(Pooling)

        /// The file format's name of the operation.
        public var name: String {
            switch self {
            case .convolution: return Architecture.Operation.conv.rawValue
            case .upsample: return Architecture.Operation.upsample.rawValue
            case .concat: return Architecture.Operation.concat.rawValue
            case .pool(let pooling):
                return (pooling.kind == .max ? Architecture.Operation.maxPool : .avgPool).rawValue
            }
        }
    }

    public struct Layer: Equatable, Sendable {
        public let name: String
        public let operation: Operation
        public let inputs: [String]
        /// The shapes of `inputs`, in order.
        public let inputShapes: [MapShape]
        public let output: MapShape

        /// The first (for all but concat, the only) input's name and shape.
        public var input: String { inputs[0] }
        public var inputShape: MapShape { inputShapes[0] }

        /// The tensors the layer needs, with their shapes (OIHW weights; batch norm or bias).
        public var weightShapes: [(name: String, shape: [Int])] {
            guard case .convolution(let conv) = operation else { return [] }
            let full = conv.fullShape
            var result = [
                (
                    "\(name).weight",
                    [full.outChannels, full.inChannels / full.groups, full.kernelHeight, full.kernelWidth]
                )
            ]
            let parts = conv.batchNorm ? ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"] : ["bias"]
            for part in parts { result.append(("\(name).\(part)", [full.outChannels])) }
            return result
        }

        /// Multiply-adds times two if a convolution (CoordConv's two channels included), else 0.
        public var flops: Double {
            guard case .convolution(let conv) = operation else { return 0 }
            let full = conv.fullShape
            return 2 * Double(full.weightCount) * Double(output.height * output.width)
        }
    }

    public let input: MapShape
    /// Input pixels per heatmap pixel.
    public let heatmapStride: Int
    public let layers: [Layer]
    /// The name of the layer whose output is the heatmaps.
    public let output: String
    /// Every layer's output shape by name, and the input's under "input".
    public let shapes: [String: MapShape]

    public var outputShape: MapShape { shapes[output]! }

    /// - Throws: `ModelError.invalidArchitecture` naming the first layer that does not fit.
    public init(_ architecture: Architecture) throws {
        func fail(_ reason: String) -> ModelError { .invalidArchitecture(reason: reason) }
        guard architecture.inputChannels > 0, architecture.inputHeight > 0, architecture.inputWidth > 0,
            architecture.heatmapStride > 0
        else { throw fail("the input size and heatmap stride must be positive") }
        input = MapShape(
            channels: architecture.inputChannels, height: architecture.inputHeight, width: architecture.inputWidth)
        heatmapStride = architecture.heatmapStride
        var shapes = ["input": input]
        var layers: [Layer] = []
        for layer in architecture.layers {
            guard shapes[layer.name] == nil else { throw fail("two layers are named '\(layer.name)'") }
            let inputs = try layer.inputs.map { name -> MapShape in
                guard let shape = shapes[name] else {
                    throw fail("layer '\(layer.name)' reads '\(name)', which no earlier layer produces")
                }
                return shape
            }
            guard !inputs.isEmpty else { throw fail("layer '\(layer.name)' has no input") }
            let (operation, output) = try Self.resolve(layer, inputs, shapes)
            shapes[layer.name] = output
            layers.append(
                Layer(name: layer.name, operation: operation, inputs: layer.inputs, inputShapes: inputs, output: output)
            )
        }
        guard let outputShape = shapes[architecture.output] else {
            throw fail("the output '\(architecture.output)' is not a layer")
        }
        guard outputShape.height * heatmapStride == input.height, outputShape.width * heatmapStride == input.width
        else {
            throw fail(
                "the output is \(outputShape.height)x\(outputShape.width), not the input divided by the heatmap stride \(heatmapStride)"
            )
        }
        self.layers = layers
        self.shapes = shapes
        output = architecture.output
    }

    /// One layer's typed operation and output shape; `shapes` holds every earlier output.
    private static func resolve(_ layer: Architecture.Layer, _ inputs: [MapShape], _ shapes: [String: MapShape])
        throws -> (Operation, MapShape)
    {
        func fail(_ reason: String) -> ModelError { .invalidArchitecture(reason: reason) }
        let first = inputs[0]
        switch layer.op {
        case .conv:
            guard inputs.count == 1, let out = layer.outChannels, out > 0, let kernel = layer.kernel, kernel > 0 else {
                throw fail("convolution '\(layer.name)' needs one input, out_channels and kernel")
            }
            let shape = ConvolutionShape(
                inChannels: first.channels, outChannels: out, kernel: kernel, stride: layer.stride ?? 1,
                padding: layer.padding ?? 0, groups: layer.groups ?? 1)
            guard shape.groups > 0, first.channels % shape.groups == 0, out % shape.groups == 0 else {
                throw fail("convolution '\(layer.name)': \(shape.groups) groups do not divide its channels")
            }
            let size = shape.outputSize(height: first.height, width: first.width)
            guard size.height > 0, size.width > 0 else { throw fail("convolution '\(layer.name)' leaves no output") }
            let output = MapShape(channels: out, height: size.height, width: size.width)
            let coordinates = layer.coordinates ?? false
            if coordinates && layer.residual != nil {
                throw fail("CoordConv layer '\(layer.name)' cannot also add a residual")
            }
            if let residual = layer.residual, shapes[residual] != output {
                throw fail("convolution '\(layer.name)' adds '\(residual)', which is not \(output)")
            }
            guard let activation = Activation(name: layer.activation ?? "none") else {
                throw fail("convolution '\(layer.name)' has an unknown activation '\(layer.activation ?? "")'")
            }
            let conv = ConvolutionLayer(
                shape: shape, coordinates: coordinates, batchNorm: layer.batchNorm ?? false, residual: layer.residual,
                activation: activation)
            return (.convolution(conv), output)
        case .upsample:
            guard inputs.count == 1, let factor = layer.factor, factor >= 1 else {
                throw fail("upsample '\(layer.name)' needs one input and a factor of at least 1")
            }
            return (
                .upsample(factor: factor),
                MapShape(
                    channels: first.channels, height: first.height * factor, width: first.width * factor)
            )
        case .concat:
            guard inputs.allSatisfy({ $0.height == first.height && $0.width == first.width }) else {
                throw fail("concat '\(layer.name)' joins maps of different sizes: \(inputs)")
            }
            return (
                .concat,
                MapShape(
                    channels: inputs.reduce(0) { $0 + $1.channels }, height: first.height, width: first.width)
            )
        case .maxPool, .avgPool:
            guard inputs.count == 1, let kernel = layer.kernel, kernel > 0 else {
                throw fail("pooling '\(layer.name)' needs one input and a kernel")
            }
            let pooling = Pooling(
                kind: layer.op == .maxPool ? .max : .average, kernel: kernel, stride: layer.stride ?? kernel,
                padding: layer.padding ?? 0)
            let size = pooling.outputSize(height: first.height, width: first.width)
            guard pooling.stride > 0, size.height > 0, size.width > 0, pooling.padding < kernel else {
                throw fail("pooling '\(layer.name)' leaves no output")
            }
            return (.pool(pooling), MapShape(channels: first.channels, height: size.height, width: size.width))
        }
    }

    /// The tensors every layer needs, with their shapes, in layer order.
    public var weightShapes: [(name: String, shape: [Int])] { layers.flatMap(\.weightShapes) }

    /// Learned parameters (batch-norm running statistics included).
    public var parameterCount: Int { weightShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// Multiply-adds times two of all convolutions, for one image.
    public var flops: Double { layers.reduce(0) { $0 + $1.flops } }
}

extension Activation {
    /// "none", "relu", "relu6" or "leaky_relu" (slope 0.1): the names of the model file.
    init?(name: String) {
        guard let activation = Self.named.first(where: { $0.name == name })?.activation else { return nil }
        self = activation
    }

    /// The model file's name of the activation.
    public var name: String { Self.named.first { $0.activation == self }?.name ?? "leaky_relu" }

    private static let named: [(name: String, activation: Activation)] = [
        ("none", .none), ("relu", .relu), ("relu6", .relu6), ("leaky_relu", .leakyReLU(slope: 0.1)),
    ]
}
