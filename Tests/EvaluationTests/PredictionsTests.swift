import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// Predictions written by the output writers read back by `Predictions.read`: every format gives
/// the points it was written with (to the writers' rounding), matched to the right samples.
struct PredictionsTests {
    static let names = ["nose", "tail"]

    /// Three labeled images and a keypoint record for each (the second failed).
    static func labelsAndRecords(_ folder: TemporaryFolder) throws -> (String, LabeledSet, [KeypointRecord]) {
        let labels = try folder.write(
            Array("image,nose_x,nose_y,tail_x,tail_y\na.png,1,2,3,4\nb.png,5,6,7,8\nc.png,9,10,11,12\n".utf8),
            to: "labels.csv")
        let records = [
            KeypointRecord(
                image: "a.png", width: 64, height: 48,
                keypoints: [
                    Keypoint(name: "nose", x: 1.23456, y: 2.5, score: 0.91234),
                    Keypoint(name: "tail", x: 3, y: 4.0004, score: 0.5),
                ]),
            KeypointRecord(image: "b.png", error: "damaged image data"),
            KeypointRecord(
                image: "c.png", width: 64, height: 48,
                keypoints: [
                    Keypoint(name: "nose", x: 9.5, y: 10, score: 0.25), Keypoint(name: "tail", x: 11, y: 12, score: 1),
                ]),
        ]
        return (labels, try LabeledSet.load(contentsOf: labels), records)
    }

    static func expected(_ records: [KeypointRecord]) -> [[PredictedPoint?]] {
        records.map { record in
            names.map { name in
                record.keypoints.first { $0.name == name }.map {
                    let (x, y, score) = KeypointRecord.rounded($0)
                    return PredictedPoint(x: x, y: y, score: score)
                }
            }
        }
    }

    @Test func jsonLinesReadBack() throws {
        let folder = try TemporaryFolder()
        let (labels, set, records) = try Self.labelsAndRecords(folder)
        let text = records.map { $0.json(model: "m").serialized + "\n" }.joined()
        let path = try folder.write(Array(text.utf8), to: "predictions.jsonl")
        let read = try Predictions.read(path, for: set, labelsPath: labels, imagesRoot: nil)
        #expect(read == Self.expected(records))
    }

    @Test func deepLabCutCSVReadsBack() throws {
        let folder = try TemporaryFolder()
        let (labels, set, records) = try Self.labelsAndRecords(folder)
        let text =
            DeepLabCutCSV.header(scorer: "m", keypoints: Self.names)
            + records.map { DeepLabCutCSV.row($0, keypoints: Self.names.count) }.joined()
        let path = try folder.write(Array(text.utf8), to: "predictions.csv")
        let read = try Predictions.read(path, for: set, labelsPath: labels, imagesRoot: nil)
        #expect(read == Self.expected(records))
    }

    /// COCO results carry no names: each labeled instance takes the detection on its image
    /// closest to its labels.
    @Test func cocoResultsPairEachInstanceWithTheClosestDetection() throws {
        let folder = try TemporaryFolder()
        let coco = """
            {"images":[{"id":7,"file_name":"a.png","width":64,"height":48}],
             "categories":[{"id":1,"name":"animal","keypoints":["nose","tail"],"skeleton":[[1,2]]}],
             "annotations":[{"id":1,"image_id":7,"category_id":1,"keypoints":[1,2,2,3,4,2],"num_keypoints":2,
                             "bbox":[0,0,10,10],"area":100,"iscrowd":0},
                            {"id":2,"image_id":7,"category_id":1,"keypoints":[40,30,2,44,34,2],"num_keypoints":2,
                             "bbox":[35,25,10,10],"area":100,"iscrowd":0}]}
            """
        let labels = try folder.write(Array(coco.utf8), to: "labels.json")
        let set = try LabeledSet.load(contentsOf: labels)
        let near = KeypointRecord(
            image: "a.png", width: 64, height: 48,
            keypoints: [
                Keypoint(name: "nose", x: 41, y: 31, score: 0.5), Keypoint(name: "tail", x: 45, y: 35, score: 0.5),
            ])
        let far = KeypointRecord(
            image: "a.png", width: 64, height: 48,
            keypoints: [
                Keypoint(name: "nose", x: 2, y: 2, score: 0.75), Keypoint(name: "tail", x: 3, y: 5, score: 0.75),
            ])
        let (results, _) = COCOResults.serialize([near, far], ids: ["a.png": 7])
        let path = try folder.write(Array(results.utf8), to: "results.json")
        let read = try Predictions.read(path, for: set, labelsPath: labels, imagesRoot: nil)
        #expect(read.count == 2)
        #expect(read[0] == Self.expected([far])[0], "the first instance, near (1, 2)")
        #expect(read[1] == Self.expected([near])[0], "the second instance, near (40, 30)")
    }

    @Test func missingKeypointsAreNamed() throws {
        let folder = try TemporaryFolder()
        let (labels, set, _) = try Self.labelsAndRecords(folder)
        let path = try folder.write(
            Array(#"{"image":"a.png","keypoints":[{"name":"nose","x":1,"y":2,"score":1}]}"#.utf8), to: "p.jsonl")
        #expect(throws: InputError.self) { try Predictions.read(path, for: set, labelsPath: labels, imagesRoot: nil) }
        do {
            _ = try Predictions.read(path, for: set, labelsPath: labels, imagesRoot: nil)
        } catch let error as InputError {
            #expect("\(error)".contains("missing: tail"), "\(error)")
        }
        let broken = try folder.write(Array("not json\n".utf8), to: "broken.jsonl")
        #expect(throws: InputError.invalid("\(broken), line 1: not a JSON object with an \"image\"")) {
            try Predictions.read(broken, for: set, labelsPath: labels, imagesRoot: nil)
        }
    }
}
