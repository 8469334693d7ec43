import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// A new run's plan from the labels and the choices: the defaults, the large-frame recipe, what
/// a choice overrides, and the first checkpoint's model and provenance.
struct TrainingPlanTests {
    static let names = ["snout", "leftear", "rightear", "tailbase"]

    @Test func smallFramesGetTheDefaults() throws {
        let plan = try TrainingPlan(keypoints: Self.names, frame: [320, 240], choices: .init())
        #expect(plan.largeFrames == nil)
        #expect(plan.architecture.inputWidth == 256 && plan.architecture.inputHeight == 256)
        #expect(plan.architecture.family?.width == 32 && plan.architecture.family?.depths == [2, 2, 2])
        let settings = plan.settings
        #expect(settings.epochs == 50 && settings.batch == 16)
        #expect(settings.learningRate == 0.002)
        #expect(settings.foregroundWeight == 0)
        #expect(settings.crop == nil)
        #expect(plan.flipPairs == [[1, 2]], "leftear/rightear inferred")
    }

    /// Frames over four times 256x256 train at full resolution on windows, as the mouse model was.
    @Test func largeFramesGetTheMouseRecipe() throws {
        let plan = try TrainingPlan(keypoints: Self.names, frame: [640, 480], choices: .init())
        #expect(plan.largeFrames == [640, 480])
        #expect(plan.architecture.inputWidth == 640 && plan.architecture.inputHeight == 480)
        #expect(plan.architecture.family?.width == 16 && plan.architecture.family?.depths == [1, 1, 1])
        let settings = plan.settings
        #expect(settings.crop == [192, 192] && settings.batch == 8)
        #expect(settings.learningRate == 0.005)
        #expect(settings.foregroundWeight == 20)
        #expect(settings.epochs == 150)
        let hd = try TrainingPlan(keypoints: Self.names, frame: [1920, 1080], choices: .init())
        #expect(hd.architecture.inputWidth == 1280 && hd.architecture.inputHeight == 736)
    }

    @Test func choicesWinOverTheRecipe() throws {
        var choices = TrainingPlan.Choices()
        (choices.batch, choices.epochs, choices.width) = (4, 3, 8)
        let plan = try TrainingPlan(keypoints: Self.names, frame: [640, 480], choices: choices)
        #expect(plan.settings.batch == 4 && plan.settings.epochs == 3 && plan.architecture.family?.width == 8)
        #expect(plan.settings.crop == [192, 192] && plan.settings.foregroundWeight == 20, "the rest of the recipe")
        choices.input = [320, 256]
        let sized = try TrainingPlan(keypoints: Self.names, frame: [640, 480], choices: choices)
        #expect(sized.largeFrames == nil && sized.settings.crop == nil, "an input turns the recipe off")
        #expect(sized.settings.learningRate == 0.002)
        #expect(sized.architecture.family?.depths == [2, 2, 2])
    }

    @Test func refusesWindowsLargerThanTheInput() {
        var choices = TrainingPlan.Choices()
        (choices.input, choices.crop) = ([64, 64], [96, 32])
        #expect(throws: InputError.self) { try TrainingPlan(keypoints: Self.names, frame: nil, choices: choices) }
    }

    /// The first checkpoint: fresh weights of the seed, epoch 0, and provenance saying how
    /// validation was chosen.
    @Test func firstCheckpointRecordsTheRun() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 4)
        let set = try LabeledSet.load(contentsOf: labels)
        var choices = TrainingPlan.Choices()
        (choices.input, choices.width, choices.seed, choices.flipTest) = ([64, 64], 4, 9, true)
        let plan = try TrainingPlan(keypoints: set.keypointNames, frame: nil, choices: choices)
        let checkpoint = try plan.checkpoint(
            set: set, labels: labels, validation: nil, imagesRoot: nil, command: "keypoints train ...")
        #expect(checkpoint.epoch == 0 && checkpoint.stepInEpoch == 0 && checkpoint.bestEpoch == nil)
        let model = checkpoint.model
        #expect(model.weights == (try plan.architecture.initialWeights(seed: 9)))
        #expect(model.flipTest && model.flipPairs == [[1, 2]])
        #expect(
            model.provenance["split"] == "fraction 0.05, at least 10 frames (at most a fifth), seed 9"
                && model.provenance["data"] == labels)
        #expect(model.provenance["command"] == "keypoints train ...")
        let separate = try plan.checkpoint(
            set: set, labels: labels, validation: "val.csv", imagesRoot: nil, command: "")
        #expect(separate.model.provenance["split"] == "validation file val.csv")
    }

    /// Without a split: 5%, at least 10 frames but at most a fifth; a fraction given as it is.
    @Test func smallProjectsValidateOnEnoughFrames() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 55)
        let data = try TrainingData(
            labels: try LabeledSet.load(contentsOf: labels), labelsPath: labels, imagesRoot: nil, inputSize: 64)
        #expect(data.split(validationFraction: 0.05, minimum: 10, seed: 1).validation.count == 10)
        #expect(data.split(validationFraction: 0.05, seed: 1).validation.count == 3)
        #expect(data.split(validationFraction: 0.5, minimum: 10, seed: 1).validation.count == 28)
        let other = try TemporaryFolder()
        let small = try TrainingFixtures.dataset(other, count: 20)
        let few = try TrainingData(
            labels: try LabeledSet.load(contentsOf: small), labelsPath: small, imagesRoot: nil, inputSize: 64)
        #expect(few.split(validationFraction: 0.05, minimum: 10, seed: 1).validation.count == 4, "a fifth of 20")
    }
}
