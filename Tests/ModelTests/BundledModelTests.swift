import CBundledModels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// The models built into the binary are exactly the committed Models/*.safetensors (a build that
/// missed a replaced file would differ), load, and are chosen by name on the command line.
struct BundledModelTests {
    static let models = repository.appendingPathComponent("Models")

    @Test func builtInModelsAreTheCommittedFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.models.path)
            .filter { $0.hasSuffix(".safetensors") }
        #expect(Model.bundledNames.sorted() == files.map { String($0.dropLast(".safetensors".count)) }.sorted())
        for name in Model.bundledNames {
            var size = 0
            let start = try #require(kp_bundled_model(name, &size))
            let file = try Data(contentsOf: Self.models.appendingPathComponent("\(name).safetensors"))
            #expect(Data(bytes: start, count: size) == file, "\(name): rebuild after replacing the file")
            let model = try #require(try Model.bundled(name))
            #expect(!model.keypointNames.isEmpty && model.provenance["trained"] == "yes")
        }
        #expect(try Model.bundled("no-such-model") == nil)
    }

    @Test func modelOptionTakesBuiltInNamesAndFiles() throws {
        let image = SharedData.path("dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/img0000.png")
        let builtIn = try CommandLineTool.run(["detect", image, "--model", "mouse", "--json"])
        #expect(builtIn.status == 0, "\(builtIn.errors)")
        #expect(builtIn.output.contains("\"model\":\"mouse\"") && builtIn.output.contains("\"name\":\"snout\""))
        let file = Self.models.appendingPathComponent("mouse.safetensors").path
        let fromFile = try CommandLineTool.run(["detect", image, "--model", file, "--json"])
        #expect(fromFile.output.replacingOccurrences(of: file, with: "mouse") == builtIn.output)
        // A folder that happens to bear a built-in model's name does not hide it.
        let folder = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.file("mouse"), withIntermediateDirectories: false)
        let besideFolder = try CommandLineTool.run(["detect", image, "--model", "mouse", "--json"], in: folder.path)
        #expect(besideFolder.output == builtIn.output, "\(besideFolder.errors)")
        let unknown = try CommandLineTool.run(["detect", image, "--model", "horse"])
        #expect(unknown.status == 2 && unknown.errors.contains("no model file 'horse' and no built-in model"))
    }
}
