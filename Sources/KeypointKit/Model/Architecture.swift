import Foundation

/// A network as a list of layers, each naming its inputs: the declarative description stored in
/// the model file. Layer outputs are NCHW feature maps; "input" names the network's input.
///
/// Convolutions apply, in order: the convolution (with two extra CoordConv input channels if
/// `coordinates`), batch normalisation (folded into the weights at load) or a bias, the residual
/// add, the activation. Weight tensors per convolution named N: `N.weight` (OIHW, I counting the
/// coordinate channels) and either `N.bias` or `N.bn.weight`, `N.bn.bias`, `N.bn.running_mean`,
/// `N.bn.running_var` (epsilon 1e-5, as PyTorch's default).
public struct Architecture: Codable, Equatable, Sendable {
    public enum Operation: String, Codable, Sendable {
        case conv
        /// Bilinear, by an integer factor, with half-pixel centres (align_corners = False,
        /// ONNX Resize "half_pixel"): output x samples input position (x + 0.5) / factor - 0.5.
        case upsample
        /// Along channels, in the order of `inputs`.
        case concat
        case maxPool = "max_pool"
        /// Averages over the window's pixels inside the input (padding not counted, as ONNX's default).
        case avgPool = "avg_pool"
    }

    public struct Layer: Codable, Equatable, Sendable {
        public var name: String
        public var op: Operation
        /// Layer names ("input" for the network's input); one, except for concat.
        public var inputs: [String]
        /// Convolution: output channels (required).
        public var outChannels: Int?
        /// Convolution and pooling: the square window's side (required).
        public var kernel: Int?
        /// Default 1 for a convolution, the kernel for pooling.
        public var stride: Int?
        /// Zeros on each side; default 0.
        public var padding: Int?
        /// Convolution: default 1.
        public var groups: Int?
        /// Convolution: CoordConv's x, y channels appended to the input; default false.
        public var coordinates: Bool?
        /// Convolution: batch norm (the `bn.*` tensors) instead of a bias; default false.
        public var batchNorm: Bool?
        /// Convolution: "none" (default), "relu", "relu6" or "leaky_relu" (slope 0.1).
        public var activation: String?
        /// Convolution: a layer whose output (of the same shape) is added before the activation.
        public var residual: String?
        /// Upsample: the integer factor (required).
        public var factor: Int?

        public init(
            name: String, op: Operation, inputs: [String], outChannels: Int? = nil, kernel: Int? = nil,
            stride: Int? = nil, padding: Int? = nil, groups: Int? = nil, coordinates: Bool? = nil,
            batchNorm: Bool? = nil, activation: String? = nil, residual: String? = nil, factor: Int? = nil
        ) {
            self.name = name
            self.op = op
            self.inputs = inputs
            self.outChannels = outChannels
            self.kernel = kernel
            self.stride = stride
            self.padding = padding
            self.groups = groups
            self.coordinates = coordinates
            self.batchNorm = batchNorm
            self.activation = activation
            self.residual = residual
            self.factor = factor
        }

        public static func conv(
            _ name: String, _ input: String, out: Int, kernel: Int = 3, stride: Int = 1, coordinates: Bool = false,
            batchNorm: Bool = true, activation: String = "relu", residual: String? = nil
        ) -> Layer {
            Layer(
                name: name, op: .conv, inputs: [input], outChannels: out, kernel: kernel, stride: stride,
                padding: kernel / 2, groups: 1, coordinates: coordinates, batchNorm: batchNorm, activation: activation,
                residual: residual)
        }
    }

    /// The parameters a generated architecture came from, kept for reference.
    public struct Family: Codable, Equatable, Sendable {
        public var name: String
        public var width: Int
        public var depths: [Int]
        public var coordinates: Bool
    }

    public var inputChannels: Int
    public var inputHeight: Int
    public var inputWidth: Int
    /// Input pixels per heatmap pixel.
    public var heatmapStride: Int
    public var layers: [Layer]
    public var output: String
    public var family: Family?

    public init(
        inputChannels: Int = 3, inputHeight: Int, inputWidth: Int, heatmapStride: Int, layers: [Layer], output: String,
        family: Family? = nil
    ) {
        (self.inputChannels, self.inputHeight, self.inputWidth, self.heatmapStride) =
            (inputChannels, inputHeight, inputWidth, heatmapStride)
        (self.layers, self.output, self.family) = (layers, output, family)
    }

    /// The default family: a CoordConv stem (image + x, y channels, stride 2), residual stages at
    /// strides 4, 8 and 16 (`depths` blocks of two 3x3 convolutions each, widths 2w, 4w, 8w),
    /// then upsampling fusion back up to `heatmapStride` (each step: bilinear 2x, concatenate
    /// with the stage of that stride, 3x3 convolution), and a 1x1 head with one channel per
    /// keypoint. `coordinates: false` gives the same network with a plain stem (the ablation).
    public static func coordConvResNet(
        keypoints: Int, width: Int = 32, depths: [Int] = [2, 2, 2], inputWidth: Int = 256, inputHeight: Int = 256,
        heatmapStride: Int = 4, coordinates: Bool = true
    ) -> Architecture {
        precondition(depths.count == 3 && [2, 4].contains(heatmapStride), "three stages; heatmap stride 2 or 4")
        var layers: [Layer] = [.conv("stem", "input", out: width, stride: 2, coordinates: coordinates)]
        var previous = "stem"
        var stages: [(name: String, channels: Int)] = [("stem", width)]
        for (index, depth) in depths.enumerated() {
            let channels = width << (index + 1)
            let down = "down\(index + 1)"
            layers.append(.conv(down, previous, out: channels, stride: 2))
            previous = down
            for block in 0..<depth {
                let name = "stage\(index + 1).block\(block)"
                layers.append(.conv("\(name).conv1", previous, out: channels))
                layers.append(.conv("\(name).conv2", "\(name).conv1", out: channels, residual: previous))
                previous = "\(name).conv2"
            }
            stages.append((previous, channels))
        }
        // Up from stride 16 to the heatmap stride, fusing each stage on the way.
        for (level, skip) in [(8, stages[2]), (4, stages[1]), (2, stages[0])] where level >= heatmapStride {
            layers.append(Layer(name: "up\(level)", op: .upsample, inputs: [previous], factor: 2))
            layers.append(Layer(name: "fuse\(level).concat", op: .concat, inputs: ["up\(level)", skip.name]))
            layers.append(.conv("fuse\(level)", "fuse\(level).concat", out: skip.channels))
            previous = "fuse\(level)"
        }
        layers.append(.conv("head", previous, out: keypoints, kernel: 1, batchNorm: false, activation: "none"))
        return Architecture(
            inputHeight: inputHeight, inputWidth: inputWidth, heatmapStride: heatmapStride, layers: layers,
            output: "head",
            family: Family(
                name: coordinates ? "coordconv-resnet" : "plain-resnet", width: width, depths: depths,
                coordinates: coordinates))
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func fromJSON(_ text: String) throws -> Architecture {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(Architecture.self, from: Data(text.utf8))
        } catch {
            throw ModelError.invalidArchitecture(reason: "the architecture JSON does not parse: \(error)")
        }
    }
}

extension Architecture {
    /// Fresh weights: He-normal convolution kernels (std sqrt(2 / fan_in)), zero biases, batch norm
    /// at identity (gamma 1, beta 0, running mean 0, running variance 1). Seeded, reproducible.
    public func initialWeights(seed: UInt64) throws -> [String: Tensor] {
        var random = SplitMix64(seed: seed)
        func uniform() -> Double { random.openUnitInterval() }
        var weights: [String: Tensor] = [:]
        for (name, shape) in try LayerGraph(self).weightShapes {
            let count = shape.reduce(1, *)
            let values: [Float]
            if name.hasSuffix(".weight") && shape.count == 4 {
                let deviation = (2 / Double(shape[1] * shape[2] * shape[3])).squareRoot()
                values = (0..<count).map { _ in
                    Float((-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform()) * deviation)
                }
            } else if name.hasSuffix(".bn.weight") || name.hasSuffix(".bn.running_var") {
                values = [Float](repeating: 1, count: count)
            } else {
                values = [Float](repeating: 0, count: count)
            }
            weights[name] = Tensor(shape: shape, data: values)
        }
        return weights
    }
}
