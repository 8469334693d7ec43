import CConvKernels

/// CoordConv (Liu et al. 2018, and their reference code): a layer's input gets two more channels,
/// x at column j = j / (w - 1) * 2 - 1 and y at row i = i / (h - 1) * 2 - 1 (0 for a single column
/// or row), appended after the image channels.
public enum CoordConv {
    /// The two channels for an h x w map: x then y, each in [-1, 1].
    ///
    /// When the map is a window of a larger one (training on crops),
    /// `window` places it: column j of the window is column `originX + j` of a
    /// `canvasWidth`-wide map, so the channels hold the values the whole map would have there.
    public static func channels(height: Int, width: Int, window: CoordinateWindow? = nil) -> [Float] {
        let frame = window ?? CoordinateWindow(originX: 0, originY: 0, canvasWidth: width, canvasHeight: height)
        var channels = [Float](repeating: 0, count: 2 * height * width)
        for i in 0..<height {
            for j in 0..<width {
                let x = frame.originX + j, y = frame.originY + i
                channels[i * width + j] =
                    frame.canvasWidth > 1 ? Float(x) / Float(frame.canvasWidth - 1) * 2 - 1 : 0
                channels[height * width + i * width + j] =
                    frame.canvasHeight > 1 ? Float(y) / Float(frame.canvasHeight - 1) * 2 - 1 : 0
            }
        }
        return channels
    }

    /// The two channels do not depend on the image, and convolution is linear in its input
    /// channels, so
    ///   conv([x_image, X, Y]; W) = conv(x_image; W_image) + conv([X, Y]; W_coordinates)
    /// where the second term is a fixed map per output channel for a given input size (zero
    /// padding included). This splits `weights` (OIHW over image + 2 channels) into the image part
    /// and that fixed map, computed in double precision, outChannels x output height x width: the
    /// engine adds it to every output as a spatial bias and convolves the image channels alone.
    static func split(
        _ weights: [Float], _ conv: LayerGraph.ConvolutionLayer, input: MapShape, output: MapShape
    ) -> (imageWeights: [Float], spatialBias: [Float]) {
        let out = conv.shape.outChannels
        let perOutput = weights.count / out
        let taps = conv.shape.kernelHeight * conv.shape.kernelWidth
        let imageChannels = perOutput / taps - 2
        var imageWeights: [Float] = []
        var coordinateWeights: [Float] = []
        for o in 0..<out {
            let start = o * perOutput
            imageWeights += weights[start..<(start + imageChannels * taps)]
            coordinateWeights += weights[(start + imageChannels * taps)..<(start + perOutput)]
        }
        var shape = conv.shape
        shape.inChannels = 2
        shape.groups = 1
        var kpShape = shape.kp
        var spatialBias = [Float](repeating: 0, count: output.count)
        kp_conv_reference(
            &kpShape, coordinateWeights, nil, KP_ACTIVATION_NONE, 0, channels(height: input.height, width: input.width),
            Int32(input.height), Int32(input.width), nil, &spatialBias)
        return (imageWeights, spatialBias)
    }
}

/// Where a map lies inside the larger map that CoordConv normalises over, in that map's pixels.
public struct CoordinateWindow: Equatable, Sendable {
    public var originX: Int
    public var originY: Int
    public var canvasWidth: Int
    public var canvasHeight: Int

    public init(originX: Int, originY: Int, canvasWidth: Int, canvasHeight: Int) {
        self.originX = originX
        self.originY = originY
        self.canvasWidth = canvasWidth
        self.canvasHeight = canvasHeight
    }

    /// The same window on a map `factor` times smaller (a deeper layer's input).
    func reduced(by factor: Int) -> CoordinateWindow {
        CoordinateWindow(
            originX: originX / factor, originY: originY / factor, canvasWidth: canvasWidth / factor,
            canvasHeight: canvasHeight / factor)
    }
}
