import ArgumentParser
import KeypointKit

/// How a model runs beyond its weights, shared by `detect`, `batch` and `eval`: a model carries
/// its own defaults (metadata `flip_test`, `second_pass_scale`), which these override.
struct TestTimeOptions: ParsableArguments {
    @Flag(
        inversion: .prefixedNo,
        help: "Average with the mirrored image's heatmaps, left and right swapped (default: as the model asks).")
    var flipTest: Bool?

    @Flag(help: "Run the model once even if it asks for a second pass around the subject (faster).")
    var singlePass = false

    /// `model` as asked to run.
    func applied(to model: Model) -> Model {
        var model = model
        if let flipTest { model.flipTest = flipTest }
        if singlePass { model.secondPassScale = nil }
        return model
    }
}
