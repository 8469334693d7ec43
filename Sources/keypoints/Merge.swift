import ArgumentParser
import KeypointKit

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the outputs of a sharded batch run into the output of the run without --shard.",
        discussion: """
            Give every shard's output (in any order; each has OUTPUT.shard.json beside it). The merge \
            is byte for byte what keypoints batch writes without --shard (JSON Lines, DeepLabCut CSV, \
            COCO results with their images file), and it streams: memory does not grow with the \
            number of records. It refuses, naming the files, a shard missing or given twice, shards \
            of different runs (inputs, model, options), and an unfinished shard (resume it first).
            """
    )

    @Argument(help: "Every shard's output file.")
    var shards: [String]

    @Option(help: "Where to write the merged output.")
    var out: String

    func run() throws {
        do {
            try ShardMerge.merge(shards, into: out)
        } catch let error as InputError {
            printToStandardError("keypoints merge: \(error)")
            throw ExitCode(1)
        }
    }
}
