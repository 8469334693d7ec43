import Foundation
import KeypointKit
import Testing
import TestSupport

/// The README's library example (public API only: no @testable import here), with a sample
/// image for "photo.jpg".
struct LibraryExampleTests {
    @Test func readmeExampleRuns() throws {
        let path = repository.appendingPathComponent("SampleImages/astronaut.png").path
        var joints: [String] = []

        let model = try Model.bundled("human")!  // or try Model.load(contentsOf: "mouse.safetensors")
        let predictor = try Predictor(model: model)  // one per thread; it reuses its buffers
        let photo = try ImageDecoder.decode(contentsOf: path).image
        for joint in predictor.predict(photo) {  // as the model asks: second pass, flip test
            joints.append("\(joint.name) \(joint.x) \(joint.y) \(joint.score)")
        }

        #expect(joints.count == 14 && joints[13].hasPrefix("head_top "))
        let asked = predictor.predict(photo, flipTest: model.flipTest)
        #expect(joints == asked.map { "\($0.name) \($0.x) \($0.y) \($0.score)" })
    }
}
