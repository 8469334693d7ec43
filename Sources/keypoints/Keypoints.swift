import ArgumentParser
import Foundation

@main
struct Keypoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypoints",
        abstract:
            "Keypoint detection on the CPU: detect, batch, evaluate, summarise and export models, inspect images, benchmark.",
        subcommands: [
            Detect.self, Batch.self, Merge.self, Frames.self, Draw.self, Eval.self, Train.self, Info.self, Export.self,
            Init.self,
            Inspect.self,
            Bench.self,
        ]
    )

    /// Usage errors exit with status 2 (as the commands document), everything else as
    /// ArgumentParser decides (1 for a thrown error, a command's own ExitCode).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                printToStandardError(fullMessage(for: error))
                Self.exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

/// Writes `line` and a newline to standard error (progress and notes; standard output is for results).
func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
