import Foundation
import Testing

@testable import KeypointKit

/// The warnings that end a run.
struct TrainingAdviceTests {
    /// A part labeled in under a quarter as many training frames as the best-labeled part is
    /// named with its count; one labeled in a quarter or more is not.
    @Test func aSparselyLabeledPartIsNamed() {
        let point = LabeledPoint(x: 1, y: 1, visible: true)
        let samples = (0..<8).map { index in
            TrainingData.Sample(
                path: "\(index).png", points: [point, index == 0 ? point : nil, index < 2 ? point : nil],
                box: nil, split: nil)
        }
        let figures = ValidationResult(meanError: 1, pck: 1, normalizer: "bbox")
        let warnings = TrainingAdvice.warnings(
            validation: figures, training: figures, samples, names: ["head", "tail", "paw"])
        let named = "tail is labeled in only 1 of 8 training frames (other parts in up to 8)"
        #expect(warnings.contains { $0.hasPrefix(named) }, "\(warnings)")
        #expect(!warnings.contains { $0.hasPrefix("paw") || $0.hasPrefix("head") }, "\(warnings)")
    }
}
