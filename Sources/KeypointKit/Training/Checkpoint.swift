import Foundation

/// Everything needed to continue a training run exactly: the model (weights and batch-norm
/// statistics), AdamW's moments and step, the settings, where the run stands, and the best
/// validation so far, and the weights' moving average if the run keeps one. A safetensors file:
/// the model's metadata and tensors, plus tensors `adam.m.<name>`, `adam.v.<name>` and
/// `average.<name>` and metadata keys prefixed `checkpoint.`.
public struct Checkpoint: Sendable {
    public var model: Model
    public var optimizer: AdamW<Float>
    public var settings: TrainingSettings
    public var labels: String
    public var imagesRoot: String?
    /// A separate labeled set to validate on, instead of a split of `labels`.
    public var validationLabels: String?
    /// Epochs finished, and optimisation steps done in the epoch after them (all its steps in a
    /// checkpoint written before that epoch's validation, which a resumed run then runs).
    public var epoch: Int
    public var stepInEpoch: Int
    /// The best epoch's validation figures (the best by `settings.bestBy`).
    public var bestError: Double?
    public var bestPCK: Double?
    public var bestEpoch: Int?
    public var seconds: Double
    /// The moving average of the parameters (TrainingSettings.averageDecay) and its steps.
    public var average: [String: [Float]]?
    public var averageSteps = 0

    public init(
        model: Model, optimizer: AdamW<Float>, settings: TrainingSettings, labels: String, imagesRoot: String?,
        validationLabels: String? = nil, epoch: Int, stepInEpoch: Int, bestError: Double?, bestEpoch: Int?,
        seconds: Double
    ) {
        self.model = model
        self.optimizer = optimizer
        self.settings = settings
        self.labels = labels
        self.imagesRoot = imagesRoot
        self.validationLabels = validationLabels
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.bestError = bestError
        self.bestEpoch = bestEpoch
        self.seconds = seconds
    }

    public func write(to path: String) throws {
        var file = model.safeTensors()
        for (name, values) in optimizer.first {
            file.tensors["adam.m.\(name)"] = Tensor(shape: [values.count], data: values)
        }
        for (name, values) in optimizer.second {
            file.tensors["adam.v.\(name)"] = Tensor(shape: [values.count], data: values)
        }
        for (name, values) in average ?? [:] {
            file.tensors["average.\(name)"] = Tensor(shape: [values.count], data: values)
        }
        if average != nil { file.metadata["checkpoint.average_steps"] = "\(averageSteps)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        file.metadata["checkpoint.settings"] = String(
            decoding: (try? encoder.encode(settings)) ?? Data(), as: UTF8.self)
        file.metadata["checkpoint.labels"] = labels
        if let imagesRoot { file.metadata["checkpoint.images_root"] = imagesRoot }
        if let validationLabels { file.metadata["checkpoint.validation_labels"] = validationLabels }
        file.metadata["checkpoint.epoch"] = "\(epoch)"
        file.metadata["checkpoint.step_in_epoch"] = "\(stepInEpoch)"
        file.metadata["checkpoint.adam_step"] = "\(optimizer.step)"
        if let bestError { file.metadata["checkpoint.best_error"] = "\(bestError)" }
        if let bestEpoch { file.metadata["checkpoint.best_epoch"] = "\(bestEpoch)" }
        if let bestPCK { file.metadata["checkpoint.best_pck"] = "\(bestPCK)" }
        file.metadata["checkpoint.seconds"] = "\(seconds)"
        try writeFileAtomically(file.serialized(), to: path)
    }

    public static func load(contentsOf path: String) throws -> Checkpoint {
        var file = try SafeTensors(contentsOf: path)
        func fail(_ reason: String) -> ModelError { .invalidFile(path: path, reason: reason) }
        guard let settingsText = file.metadata["checkpoint.settings"],
            let settings = try? JSONDecoder().decode(TrainingSettings.self, from: Data(settingsText.utf8)),
            let labels = file.metadata["checkpoint.labels"], let epoch = Int(file.metadata["checkpoint.epoch"] ?? ""),
            let step = Int(file.metadata["checkpoint.step_in_epoch"] ?? ""),
            let adamStep = Int(file.metadata["checkpoint.adam_step"] ?? "")
        else { throw fail("not a training checkpoint (written by keypoints train)") }
        var optimizer = AdamW<Float>(weightDecay: Float(settings.weightDecay))
        optimizer.step = adamStep
        for (name, tensor) in file.tensors where name.hasPrefix("adam.") {
            let parameter = String(name.dropFirst(7))
            if name.hasPrefix("adam.m.") {
                optimizer.first[parameter] = tensor.data
            } else {
                optimizer.second[parameter] = tensor.data
            }
            file.tensors[name] = nil
        }
        var average: [String: [Float]]?
        for (name, tensor) in file.tensors where name.hasPrefix("average.") {
            average = average ?? [:]
            average![String(name.dropFirst(8))] = tensor.data
            file.tensors[name] = nil
        }
        var checkpoint = Checkpoint(
            model: try Model(safeTensors: file, path: path), optimizer: optimizer, settings: settings, labels: labels,
            imagesRoot: file.metadata["checkpoint.images_root"],
            validationLabels: file.metadata["checkpoint.validation_labels"], epoch: epoch, stepInEpoch: step,
            bestError: file.metadata["checkpoint.best_error"].flatMap(Double.init),
            bestEpoch: file.metadata["checkpoint.best_epoch"].flatMap(Int.init),
            seconds: Double(file.metadata["checkpoint.seconds"] ?? "") ?? 0)
        checkpoint.average = average
        checkpoint.bestPCK = file.metadata["checkpoint.best_pck"].flatMap(Double.init)
        checkpoint.averageSteps = Int(file.metadata["checkpoint.average_steps"] ?? "") ?? 0
        return checkpoint
    }
}
