/// Why a model could not be loaded, built or run; each message names the file or the layer.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidFile(path: String, reason: String)
    case invalidArchitecture(reason: String)
    case missingWeights(layer: String, tensor: String)
    case wrongShape(tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .invalidFile(let path, let reason): return "\(path): not a usable model file: \(reason)"
        case .invalidArchitecture(let reason): return "invalid architecture: \(reason)"
        case .missingWeights(let layer, let tensor):
            return "layer '\(layer)' needs the tensor '\(tensor)', which the model lacks"
        case .wrongShape(let tensor, let expected, let found):
            return "tensor '\(tensor)' has shape \(found), but the architecture needs \(expected)"
        }
    }
}
