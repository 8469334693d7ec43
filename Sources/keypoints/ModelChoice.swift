import ArgumentParser
import Foundation
import KeypointKit

/// The `--model` argument of detect, batch and eval: a model file, or the name of a model built
/// into the binary (a file of that name wins; a folder of that name does not). Without it, the
/// built-in human body model.
enum ModelChoice {
    static let defaultName = "human"

    static var help: ArgumentHelp {
        ArgumentHelp(
            "A model file, or a built-in model: \(Model.bundledNames.joined(separator: ", ")) (default: \(defaultName))."
        )
    }

    /// The model `argument` names (nil: the default), and how to name it in output.
    static func load(_ argument: String?) throws -> (model: Model, name: String) {
        let name = argument ?? defaultName
        var isFolder: ObjCBool = false
        if argument != nil && FileManager.default.fileExists(atPath: name, isDirectory: &isFolder)
            && !isFolder.boolValue
        {
            return (try Model.load(contentsOf: name), name)
        }
        if let model = try Model.bundled(name) { return (model, name) }
        let builtIn = Model.bundledNames.joined(separator: ", ")
        throw ValidationError("no model file '\(name)' and no built-in model of that name (built in: \(builtIn))")
    }
}
