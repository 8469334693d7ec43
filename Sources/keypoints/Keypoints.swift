import ArgumentParser

@main
struct Keypoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypoints",
        abstract: "Keypoint detection on the CPU: detect keypoints, summarise models, inspect images, benchmark.",
        subcommands: [Detect.self, Eval.self, Info.self, Export.self, Inspect.self, Bench.self]
    )
}
