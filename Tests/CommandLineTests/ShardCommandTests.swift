import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// `batch --shard` and `merge`: the shards' outputs merge into the unsharded run's, byte for byte,
/// and merge refuses shards that do not make one whole run.
struct ShardCommandTests {
    @Test(arguments: ["jsonl", "csv", "coco"])
    func mergedShardsAreTheUnshardedOutput(format: String) throws {
        let folder = try TemporaryFolder()
        let (images, model) = try BatchCommandTests.fixture(folder)
        let whole = folder.file("whole.\(format)")
        _ = try CommandLineTool.run(["batch", images, "--model", model, "--format", format, "--out", whole, "--quiet"])
        for count in [1, 2, 4, 7] {
            var shards: [String] = []
            for index in (0..<count).reversed() {  // any order
                let out = folder.file("shard\(index)of\(count).\(format)")
                let run = try CommandLineTool.run(
                    [
                        "batch", images, "--model", model, "--format", format, "--out", out, "--shard",
                        "\(index)/\(count)",
                        "--quiet",
                    ])
                #expect(run.status <= 1, "\(run.errors)")  // 1: the fixture's damaged files
                shards.append(out)
            }
            let merged = folder.file("merged\(count).\(format)")
            let merge = try CommandLineTool.run(["merge"] + shards + ["--out", merged])
            #expect(merge.status == 0, "\(merge.errors)")
            #expect(
                FileManager.default.contentsEqual(atPath: merged, andPath: whole), "\(format), \(count) shards")
            if format == "coco" {
                #expect(
                    FileManager.default.contentsEqual(atPath: merged + ".images.json", andPath: whole + ".images.json"))
            }
        }
    }

    /// A video's frames split into contiguous parts that start at keyframes (an IDR frame every
    /// 12): merged JSON Lines and CSV equal the unsharded output for 1, 2, 4 and 7 shards.
    @Test(arguments: ["jsonl", "csv"])
    func videoShardsMergeIntoTheUnshardedOutput(format: String) throws {
        let folder = try TemporaryFolder()
        let model = folder.file("model.safetensors")
        try TestModels.small().write(to: model)
        let video = try VideoFixtures.make(
            folder.file("clip.mp4"), frames: 100, size: "128x96",
            options: ["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"])
        let whole = folder.file("whole.\(format)")
        _ = try CommandLineTool.run(["batch", video, "--model", model, "--format", format, "--out", whole, "--quiet"])
        for count in [1, 2, 4, 7] {
            let shards = (0..<count).map { folder.file("s\($0)of\(count).\(format)") }
            for (index, out) in shards.enumerated() {
                let run = try CommandLineTool.run(
                    [
                        "batch", video, "--model", model, "--format", format, "--out", out, "--shard",
                        "\(index)/\(count)",
                        "--quiet",
                    ])
                #expect(run.status == 0, "\(run.errors)")
                let record = try ShardRecord.read(for: out)
                #expect(
                    record.first % 12 == 0 && record.span == [0, 100], "shard \(index) of \(count) starts at a keyframe"
                )
            }
            let merged = folder.file("merged\(count).\(format)")
            let merge = try CommandLineTool.run(["merge"] + shards.reversed() + ["--out", merged])
            #expect(merge.status == 0, "\(merge.errors)")
            #expect(FileManager.default.contentsEqual(atPath: merged, andPath: whole), "\(format), \(count) shards")
        }
        let partial = try CommandLineTool.run(
            [
                "merge", folder.file("s0of4.\(format)"), folder.file("s2of4.\(format)"), folder.file("s3of4.\(format)"),
                "--out", folder.file("x"),
            ])
        #expect(partial.status == 1 && partial.errors.contains("shard(s) 1 of 4 missing"), "\(partial.errors)")
    }

    @Test func mergeRefusesShardsThatAreNotOneRun() throws {
        let folder = try TemporaryFolder()
        let (images, model) = try BatchCommandTests.fixture(folder)
        func shard(_ index: Int, _ extra: [String] = []) throws -> String {
            let out = folder.file("s\(index)\(extra.joined()).jsonl")
            _ = try CommandLineTool.run(
                ["batch", images, "--model", model, "--out", out, "--shard", "\(index)/3", "--quiet"] + extra)
            return out
        }
        let (s0, s1, s2) = (try shard(0), try shard(1), try shard(2))
        let out = folder.file("merged.jsonl")
        let missing = try CommandLineTool.run(["merge", s0, s2, "--out", out])
        #expect(missing.status == 1 && missing.errors.contains("shard(s) 1 of 3 missing"), "\(missing.errors)")
        let twice = try CommandLineTool.run(["merge", s0, s1, s1, s2, "--out", out])
        #expect(twice.status == 1 && twice.errors.contains("are both shard 1"), "\(twice.errors)")
        let flipped = try shard(1, ["--flip-test"])
        let foreign = try CommandLineTool.run(["merge", s0, flipped, s2, "--out", out])
        #expect(foreign.status == 1 && foreign.errors.contains("shards of different runs"), "\(foreign.errors)")
        var record = try ShardRecord.read(for: s2)
        record.complete = false
        try record.write(for: s2)
        let unfinished = try CommandLineTool.run(["merge", s0, s1, s2, "--out", out])
        #expect(unfinished.status == 1 && unfinished.errors.contains("is unfinished"), "\(unfinished.errors)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written when refusing")
        let plain = try CommandLineTool.run(["merge", folder.file("none.jsonl"), "--out", out])
        #expect(plain.status == 1 && plain.errors.contains("not the output of a batch run with --shard"))
    }

    /// auto reads Slurm's array variables, or Kubernetes' completion index with a given count.
    @Test func autoShardsComeFromTheScheduler() throws {
        let slurm = ["SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "17"]
        #expect(try Shard(parsing: "auto/auto", environment: slurm) == Shard(index: 2, count: 8))
        let counted = ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"]
        #expect(try Shard(parsing: "auto/auto", environment: counted) == Shard(index: 3, count: 4))
        #expect(try Shard(parsing: "auto/5", environment: ["JOB_COMPLETION_INDEX": "4"]) == Shard(index: 4, count: 5))
        let resubmitted = ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "1"]
        #expect(try Shard(parsing: "auto/8", environment: resubmitted) == Shard(index: 5, count: 8))
        #expect(throws: InputError.self) { try Shard(parsing: "auto/4", environment: [:]) }
        #expect(throws: InputError.self) { try Shard(parsing: "4/4", environment: [:]) }
        #expect(throws: InputError.self) { try Shard(parsing: "1-4", environment: [:]) }
    }

    /// Contiguous ranges covering every item once, balanced by work: ten large items and ninety
    /// small ones of the same total split 50/50 by work, not by count.
    @Test func rangesAreContiguousAndBalancedByWork() {
        let weights = [Int](repeating: 900, count: 10) + [Int](repeating: 100, count: 90)
        for count in [1, 2, 3, 7, 150] {
            let ranges = (0..<count).map { Shard(index: $0, count: count).range(weights: weights) }
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 100)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        }
        #expect(Shard(index: 0, count: 2).range(weights: weights) == 0..<10)
    }

    /// Two videos' frames, one after the other, in four parts whose inner ends move to keyframes:
    /// every frame in exactly one part.
    @Test func videoPartsTileTheFramesAtKeyframes() {
        let windows = [0..<30, 0..<50]
        let keyframes = [[0, 10, 20], [0, 25]]
        let parts = (0..<4).map { Shard(index: $0, count: 4).parts(windows: windows, keyframes: keyframes) }
        #expect(parts[0] == [0: 0..<20])
        #expect(parts[1] == [0: 20..<30])
        #expect(parts[2] == [1: 0..<25])
        #expect(parts[3] == [1: 25..<50])
    }
}
