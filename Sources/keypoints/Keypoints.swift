import ArgumentParser

@main
struct Keypoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypoints",
        abstract: "Keypoint detection on the CPU: inspect images, benchmark the pipeline.",
        subcommands: [Inspect.self, Bench.self]
    )
}
