import Foundation

/// A trained model: architecture, weights and everything needed to use its output. Stored as a
/// safetensors file whose `__metadata__` holds (all values strings, JSON where structured):
/// `format` ("swift-keypoints"), `format_version` ("1"), `architecture` (Architecture JSON),
/// `keypoints` (names), `skeleton` and `flip_pairs` (index pairs), `oks_sigmas` (optional),
/// `normalization` ({"mean": [...], "std": [...]}, per input channel, on values in 0...1),
/// `heatmap_sigma` (target Gaussian, heatmap pixels), `second_pass_scale`, `flip_test` and
/// `score_threshold` (optional, see below), `heatmap_score` (optional: `HeatmapScore`, `peak` when
/// absent), `subject_reach` (optional: `SubjectReach`, input pixels) and `provenance` (how it was
/// trained).
public struct Model: Sendable {
    public var architecture: Architecture
    public var keypointNames: [String]
    public var skeleton: [[Int]]
    public var flipPairs: [[Int]]
    public var oksSigmas: [Double]?
    public var mean: [Float]
    public var std: [Float]
    public var heatmapSigma: Double
    /// For a model trained on subject-centred crops (as LSPet's people): whole images run twice,
    /// the second time on the box around the first pass's keypoints, each side this many times
    /// theirs (at least 1); nil runs once.
    public var secondPassScale: Double?
    /// Average each image's heatmaps with its mirror's (left and right swapped) unless told
    /// otherwise, as MMPose's test settings do: for models where it pays (metadata `flip_test`).
    public var flipTest: Bool
    /// Keypoints (indices) the flip test leaves to the unmirrored pass (metadata
    /// `flip_test_excluded`): parts labeled in too few training frames to be found in both views
    /// (`TrainingAdvice.sparseParts`) and their partners, whose mirrored maps they are.
    public var flipTestExcluded: [Int]
    /// The score below which a point is taken as not found (hidden in detect's tables and in
    /// overlays unless --min-score says otherwise); batch output keeps every point with its
    /// score, so a consumer applies the same threshold (metadata `score_threshold`, 0-1).
    public var scoreThreshold: Double?
    /// What a keypoint's score measures on its heatmap.
    public var heatmapScore: HeatmapScore
    /// How far the subject's parts reach from its centre, in network input pixels
    /// (`SubjectReach`); nil: peaks are taken wherever they are.
    public var subjectReach: Double?
    public var provenance: [String: String]
    public var weights: [String: Tensor]

    public static let formatVersion = "1"

    /// How the network input is normalised (`mean`, `std`).
    public var normalization: Normalization { Normalization(mean: mean, std: std) }

    public init(
        architecture: Architecture, keypointNames: [String], skeleton: [[Int]] = [], flipPairs: [[Int]] = [],
        oksSigmas: [Double]? = nil, mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225],
        heatmapSigma: Double = 2, secondPassScale: Double? = nil, flipTest: Bool = false, flipTestExcluded: [Int] = [],
        scoreThreshold: Double? = nil, heatmapScore: HeatmapScore = .peak, subjectReach: Double? = nil,
        provenance: [String: String] = [:], weights: [String: Tensor]
    ) {
        self.architecture = architecture
        self.keypointNames = keypointNames
        self.skeleton = skeleton
        self.flipPairs = flipPairs
        self.oksSigmas = oksSigmas
        self.mean = mean
        self.std = std
        self.heatmapSigma = heatmapSigma
        self.secondPassScale = secondPassScale
        self.flipTest = flipTest
        self.flipTestExcluded = flipTestExcluded
        self.scoreThreshold = scoreThreshold
        self.heatmapScore = heatmapScore
        self.subjectReach = subjectReach
        self.provenance = provenance
        self.weights = weights
    }

    /// Loads and validates a model file.
    /// - Throws: `ModelError` (or `ImageError` for unreadable paths) with the reason.
    public static func load(contentsOf path: String) throws -> Model {
        try Model(safeTensors: SafeTensors(contentsOf: path), path: path)
    }

    public init(safeTensors file: SafeTensors, path: String) throws {
        func fail(_ reason: String) -> ModelError { .invalidFile(path: path, reason: reason) }
        let metadata = file.metadata
        guard metadata["format"] == "swift-keypoints" else {
            throw fail("the metadata does not say format 'swift-keypoints'; is this a model made by keypoints train?")
        }
        guard metadata["format_version"] == Model.formatVersion else {
            throw fail(
                "format version \(metadata["format_version"] ?? "missing"); this build reads version \(Model.formatVersion)"
            )
        }
        func decode<T: Decodable>(_ key: String, as type: T.Type) throws -> T {
            guard let text = metadata[key] else { throw fail("the metadata lacks '\(key)'") }
            guard let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw fail("metadata '\(key)' is not valid: \(text.prefix(80))")
            }
            return value
        }
        guard let architectureText = metadata["architecture"] else { throw fail("the metadata lacks 'architecture'") }
        let normalization = try decode("normalization", as: [String: [Float]].self)
        guard let sigmaText = metadata["heatmap_sigma"], let sigma = Double(sigmaText), sigma > 0 else {
            throw fail("metadata 'heatmap_sigma' is missing or not a positive number")
        }
        var secondPassScale: Double?
        if let text = metadata["second_pass_scale"] {
            guard let scale = Double(text), scale >= 1, scale.isFinite else {
                throw fail("metadata 'second_pass_scale' must be a number of at least 1, not '\(text.prefix(20))'")
            }
            secondPassScale = scale
        }
        var scoreThreshold: Double?
        if let text = metadata["score_threshold"] {
            guard let threshold = Double(text), (0...1).contains(threshold) else {
                throw fail("metadata 'score_threshold' must be a number from 0 to 1, not '\(text.prefix(20))'")
            }
            scoreThreshold = threshold
        }
        var subjectReach: Double?
        if let text = metadata["subject_reach"] {
            guard let reach = Double(text), reach > 0, reach.isFinite else {
                throw fail("metadata 'subject_reach' must be a positive number, not '\(text.prefix(20))'")
            }
            subjectReach = reach
        }
        var heatmapScore = HeatmapScore.peak
        if let text = metadata["heatmap_score"] {
            guard let kind = HeatmapScore(rawValue: text) else {
                let kinds = HeatmapScore.allCases.map(\.rawValue).joined(separator: " or ")
                throw fail("metadata 'heatmap_score' must be \(kinds), not '\(text.prefix(20))'")
            }
            heatmapScore = kind
        }
        guard [nil, "true", "false"].contains(metadata["flip_test"]) else {
            throw fail("metadata 'flip_test' must be true or false, not '\(metadata["flip_test"]!.prefix(20))'")
        }
        self.init(
            architecture: try Architecture.fromJSON(architectureText),
            keypointNames: try decode("keypoints", as: [String].self),
            skeleton: try decode("skeleton", as: [[Int]].self), flipPairs: try decode("flip_pairs", as: [[Int]].self),
            oksSigmas: metadata["oks_sigmas"] == nil ? nil : try decode("oks_sigmas", as: [Double].self),
            mean: normalization["mean"] ?? [], std: normalization["std"] ?? [], heatmapSigma: sigma,
            secondPassScale: secondPassScale, flipTest: metadata["flip_test"] == "true",
            flipTestExcluded: metadata["flip_test_excluded"] == nil
                ? [] : try decode("flip_test_excluded", as: [Int].self),
            scoreThreshold: scoreThreshold, heatmapScore: heatmapScore, subjectReach: subjectReach,
            provenance: metadata["provenance"] == nil ? [:] : try decode("provenance", as: [String: String].self),
            weights: file.tensors)
        try validate()
    }

    /// Checks that everything fits together: architecture, weights, keypoints, normalisation.
    public func validate() throws {
        let graph = try LayerGraph(architecture)
        let output = graph.outputShape
        guard output.channels == keypointNames.count else {
            throw ModelError.invalidArchitecture(
                reason:
                    "the output has \(output.channels) channels but the model names \(keypointNames.count) keypoints")
        }
        guard Set(keypointNames).count == keypointNames.count, !keypointNames.contains("") else {
            throw ModelError.invalidArchitecture(reason: "keypoint names must be unique and not empty")
        }
        for (label, pairs) in [("skeleton", skeleton), ("flip pairs", flipPairs)] {
            for pair in pairs where pair.count != 2 || !pair.allSatisfy({ keypointNames.indices.contains($0) }) {
                throw ModelError.invalidArchitecture(reason: "\(label) entry \(pair) is not a pair of keypoint indices")
            }
        }
        guard flipTestExcluded.allSatisfy({ keypointNames.indices.contains($0) }) else {
            throw ModelError.invalidArchitecture(reason: "flip_test_excluded must list keypoint indices")
        }
        if let secondPassScale, !(secondPassScale >= 1 && secondPassScale.isFinite) {
            throw ModelError.invalidArchitecture(reason: "second_pass_scale must be at least 1")
        }
        if let scoreThreshold, !(0...1).contains(scoreThreshold) {
            throw ModelError.invalidArchitecture(reason: "score_threshold must lie from 0 to 1")
        }
        if let subjectReach, !(subjectReach > 0 && subjectReach.isFinite) {
            throw ModelError.invalidArchitecture(reason: "subject_reach must be a positive number")
        }
        if let oksSigmas, oksSigmas.count != keypointNames.count || !oksSigmas.allSatisfy({ $0 > 0 }) {
            throw ModelError.invalidArchitecture(reason: "oks_sigmas needs one positive value per keypoint")
        }
        guard mean.count == architecture.inputChannels, std.count == architecture.inputChannels,
            std.allSatisfy({ $0 > 0 })
        else {
            throw ModelError.invalidArchitecture(
                reason: "normalization needs one mean and one positive std per input channel")
        }
        for (name, shape) in graph.weightShapes {
            guard let tensor = weights[name] else {
                throw ModelError.missingWeights(layer: String(name.prefix { $0 != "." }), tensor: name)
            }
            guard tensor.shape == shape else {
                throw ModelError.wrongShape(tensor: name, expected: shape, found: tensor.shape)
            }
        }
        if let variance = architecture.layers.compactMap({ weights["\($0.name).bn.running_var"] }).first(where: {
            $0.data.contains { $0 < 0 }
        }) {
            throw ModelError.invalidArchitecture(
                reason: "a batch-norm running variance is negative (\(variance.shape))")
        }
    }

    /// The safetensors bytes of this model.
    public func serialized() -> [UInt8] { safeTensors().serialized() }

    /// The model as a safetensors container: metadata and weights.
    public func safeTensors() -> SafeTensors {
        func json<T: Encodable>(_ value: T) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
        }
        var metadata: [String: String] = [
            "format": "swift-keypoints", "format_version": Model.formatVersion, "architecture": architecture.json(),
            "keypoints": json(keypointNames), "skeleton": json(skeleton), "flip_pairs": json(flipPairs),
            "normalization": json(["mean": mean, "std": std]), "heatmap_sigma": "\(heatmapSigma)",
            "provenance": json(provenance),
        ]
        if let oksSigmas { metadata["oks_sigmas"] = json(oksSigmas) }
        if let secondPassScale { metadata["second_pass_scale"] = "\(secondPassScale)" }
        if flipTest { metadata["flip_test"] = "true" }
        if !flipTestExcluded.isEmpty { metadata["flip_test_excluded"] = json(flipTestExcluded) }
        if let scoreThreshold { metadata["score_threshold"] = "\(scoreThreshold)" }
        if heatmapScore != .peak { metadata["heatmap_score"] = heatmapScore.rawValue }
        if let subjectReach { metadata["subject_reach"] = "\(subjectReach)" }
        return SafeTensors(metadata: metadata, tensors: weights)
    }

    /// Writes the model atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try writeFileAtomically(serialized(), to: path)
    }
}
