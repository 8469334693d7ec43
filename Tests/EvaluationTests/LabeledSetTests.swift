import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct LabeledSetTests {
    @Test func deepLabCutProject() throws {
        let set = try LabeledSet.load(
            contentsOf: SharedData.path(
                "dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv"))
        #expect(set.format == .deepLabCut)
        #expect(set.keypointNames == ["snout", "leftear", "rightear", "tailbase"])
        #expect(set.samples.count == 100)
        let first = set.samples[0]
        #expect(first.image == "labeled-data/m4s1/img0000.png")
        #expect(first.points[0] == LabeledPoint(x: 21.521, y: 265.428, visible: true))
        #expect(first.points[3]?.y == 152.69799999999998)
        #expect(set.samples.allSatisfy { $0.points.allSatisfy { $0 != nil } })
    }

    /// A DeepLabCut project by its folder or config.yaml: the CollectedData CSV of every video
    /// folder merged, images found, config.yaml's scorer and skeleton used; mismatched body parts,
    /// HDF5-only labels and a folder that is no project are explained.
    @Test func deepLabCutProjectFolder() throws {
        let openfield = SharedData.path("dlc-openfield/examples/openfield-Pranav-2018-10-30")
        let whole = try LabeledSet.load(contentsOf: openfield)
        #expect(whole.keypointNames == ["snout", "leftear", "rightear", "tailbase"] && whole.samples.count == 100)
        #expect(whole.samples[0].image == openfield + "/labeled-data/m4s1/img0000.png")
        #expect(whole.samples.allSatisfy { FileManager.default.fileExists(atPath: $0.image) })
        #expect(try LabeledSet.load(contentsOf: openfield + "/config.yaml").samples == whole.samples)

        let folder = try TemporaryFolder()
        let header = "scorer,me,me,me,me\nbodyparts,nose,nose,tail,tail\ncoords,x,y,x,y\n"
        for (video, rows) in [
            ("a", "labeled-data/a/f1.png,1,2,3,4\n"),
            ("b", "labeled-data/b/f1.png,5,6,,\nlabeled-data/b/f2.png,7,8,9,10\n"),
        ] {
            try FileManager.default.createDirectory(
                atPath: folder.file("labeled-data/\(video)"), withIntermediateDirectories: true)
            _ = try folder.write(Array((header + rows).utf8), to: "labeled-data/\(video)/CollectedData_me.csv")
        }
        _ = try folder.write(Array("other,x\n".utf8), to: "labeled-data/a/CollectedData_you.csv")
        try FileManager.default.createDirectory(
            atPath: folder.file("labeled-data/a_labeled"), withIntermediateDirectories: true)
        _ = try folder.write(
            Array(
                "scorer: me\nbodyparts:\n- nose\n- tail\nskeleton:\n- - nose\n  - tail\n- - nose\n  - ear\nskeleton_color: black\n"
                    .utf8), to: "config.yaml")
        let merged = try LabeledSet.load(contentsOf: folder.path)
        #expect(
            merged.samples.map(\.image)
                == ["a/f1.png", "b/f1.png", "b/f2.png"].map { folder.file("labeled-data/" + $0) })
        #expect(
            merged.samples[1].points[1] == nil
                && merged.samples[2].points[1] == LabeledPoint(x: 9, y: 10, visible: true))
        #expect(merged.skeleton == [[0, 1]])

        func failure(_ path: String) -> String {
            do {
                _ = try LabeledSet.load(contentsOf: path)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        _ = try folder.write(Array("scorer: someone\n".utf8), to: "config.yaml")
        #expect(
            failure(folder.path).contains("holds several label files (CollectedData_me.csv, CollectedData_you.csv)"))
        try FileManager.default.removeItem(atPath: folder.file("labeled-data/a/CollectedData_you.csv"))
        _ = try folder.write(
            Array("scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\nlabeled-data/c/f.png,1,2\n".utf8),
            to: "labeled-data/b/CollectedData_me.csv")
        #expect(
            failure(folder.path).contains(
                "body parts nose differ from \(folder.file("labeled-data/a/CollectedData_me.csv"))'s nose,tail"))
        try FileManager.default.removeItem(atPath: folder.file("labeled-data/b/CollectedData_me.csv"))
        _ = try folder.write([0x89, 0x48, 0x44, 0x46], to: "labeled-data/b/CollectedData_me.h5")
        #expect(failure(folder.path).contains("labels only in HDF5; save them as CSV too"))
        #expect(failure(folder.file("labeled-data")).contains("not a DeepLabCut project: no labeled-data folder"))
    }

    /// DeepLabCut 2.2 and later write the image path over three index columns; the same labels,
    /// rewritten that way with one cell emptied, read the same with that point missing.
    @Test func deepLabCutSplitIndexColumns() throws {
        let original = SharedData.path(
            "dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv")
        let classic = try LabeledSet.load(contentsOf: original)
        let lines = try String(contentsOfFile: original, encoding: .utf8).split(separator: "\n").map(String.init)
        var rewritten = lines.prefix(3).map { line -> String in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            return ([String(cells[0]), "", ""] + cells.dropFirst().map(String.init)).joined(separator: ",")
        }
        for (index, line) in lines.dropFirst(3).enumerated() {
            var cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if index == 1 { cells[3] = "" }  // the second image's leftear x
            rewritten.append(
                (cells[0].split(separator: "/").map(String.init) + cells.dropFirst()).joined(separator: ","))
        }
        let folder = try TemporaryFolder()
        let path = try folder.write(Array(rewritten.joined(separator: "\n").utf8), to: "CollectedData_me.csv")
        let split = try LabeledSet.load(contentsOf: path)
        #expect(split.keypointNames == classic.keypointNames && split.samples.count == 100)
        #expect(split.samples.map(\.image) == classic.samples.map(\.image))
        #expect(split.samples[1].points[1] == nil && split.samples[1].points[0] == classic.samples[1].points[0])
        #expect(split.samples[2].points == classic.samples[2].points)

        let multi = try folder.write(
            Array("scorer,,,me,me\nindividuals,,,m1,m1\nbodyparts,,,snout,snout\ncoords,,,x,y\n".utf8), to: "ma.csv")
        #expect {
            try LabeledSet.load(contentsOf: multi)
        } throws: { error in
            "\(error)".contains("multi-animal DeepLabCut files (with an individuals row) are not supported yet")
        }
    }

    @Test func simpleCSVWithSplitAndVisibility() throws {
        let set = try LabeledSet.load(contentsOf: SharedData.path("lspet/derived/lspet_joints_first7000.csv"))
        #expect(set.format == .simpleCSV)
        #expect(
            set.keypointNames == [
                "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
                "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top",
            ])
        #expect(set.samples.count == 7000)
        #expect(set.samples.filter { $0.split == "train" }.count == 6600)
        #expect(set.samples.filter { $0.split == "val" }.count == 400)
        #expect(set.samples[0].points[0] == nil)  // v = 0: masked
        #expect(set.samples[0].points[1] == LabeledPoint(x: 26.031, y: 86.410, visible: true))
        #expect(set.samples[0].width == 157 && set.samples[0].height == 105)
    }

    @Test func cocoMultiPerson() throws {
        let set = try LabeledSet.load(contentsOf: SharedData.path("mmpose-testdata/tests/data/coco/test_coco.json"))
        #expect(set.format == .coco)
        #expect(set.keypointNames.count == 17 && set.keypointNames[0] == "nose")
        #expect(set.images.count == 4)
        #expect(set.samples.count == 14)
        #expect(set.skeleton.first == [15, 13])  // [16, 14] 1-based
        let first = set.samples[0]
        #expect(first.image == "000000000785.jpg" && first.imageID == 785 && first.box?.count == 4)
        #expect(first.points[0] == LabeledPoint(x: 367, y: 81, visible: true))
    }

    @Test func emptyCellsAreMissingAndBadCellsAreExplained() throws {
        let folder = try TemporaryFolder()
        let dlc = try folder.write(
            Array(
                """
                scorer,me,me,me,me
                bodyparts,nose,nose,tail,tail
                coords,x,y,x,y
                a.png,1.5,2.5,,
                b.png,3,4,5,6

                """.utf8), to: "CollectedData.csv")
        let set = try LabeledSet.load(contentsOf: dlc)
        #expect(set.samples.count == 2 && set.samples[0].points[1] == nil && set.samples[1].points[1]?.x == 5)

        let bad = try folder.write(Array("image,nose_x,nose_y\na.png,1,oops\n".utf8), to: "bad.csv")
        #expect(throws: LabelError.malformed(path: bad, line: 2, reason: "column 'nose_y' holds 'oops', not a number"))
        {
            try LabeledSet.load(contentsOf: bad)
        }
        let unknown = try folder.write(Array("image,nose_x,nose_y,colour\na.png,1,2,red\n".utf8), to: "unknown.csv")
        #expect(throws: LabelError.self) { try LabeledSet.load(contentsOf: unknown) }
        let quoted = try folder.write(Array("image,nose_x,nose_y\n\"my, file.png\",1,2\n".utf8), to: "quoted.csv")
        #expect(try LabeledSet.load(contentsOf: quoted).samples[0].image == "my, file.png")
        #expect(throws: LabelError.self) { try LabeledSet.load(contentsOf: folder.file("missing.csv")) }
    }

    /// A "split" field on COCO images (the bee set has one) is each annotation's split, as the
    /// simple CSV's column is; training and the report use it.
    @Test func cocoImagesCarryTheirSplit() throws {
        let set = try LabeledSet.load(contentsOf: SharedData.path("apic-bee/derived/bee_coco.json"))
        let splits = Dictionary(grouping: set.samples, by: { $0.split ?? "none" }).mapValues(\.count)
        #expect(splits["none"] == nil && splits.keys.contains("train") && splits.count >= 2, "\(splits)")
    }
}
