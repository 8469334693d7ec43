import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct ModelFileTests {
    @Test func roundTrip() throws {
        var model = try TestModels.small()
        model.secondPassScale = 2
        model.flipTest = true
        model.scoreThreshold = 0.35
        model.heatmapScore = .mass
        model.subjectReach = 37.5
        model.flipTestExcluded = [1]
        let folder = try TemporaryFolder()
        let path = folder.file("model.safetensors")
        try model.write(to: path)
        let loaded = try Model.load(contentsOf: path)
        #expect(loaded.architecture == model.architecture)
        #expect(loaded.keypointNames == model.keypointNames && loaded.skeleton == model.skeleton)
        #expect(loaded.flipPairs == model.flipPairs && loaded.oksSigmas == model.oksSigmas)
        #expect(loaded.mean == model.mean && loaded.std == model.std && loaded.heatmapSigma == 1.5)
        #expect(loaded.provenance == ["data": "test"] && loaded.secondPassScale == 2 && loaded.flipTest)
        #expect(loaded.scoreThreshold == 0.35 && loaded.heatmapScore == .mass && loaded.subjectReach == 37.5)
        #expect(try loaded.flipTestExcluded == [1] && TestModels.small().flipTestExcluded == [])
        #expect(try TestModels.small().heatmapScore == .peak, "no heatmap_score: the peak")
        #expect(
            try Model(safeTensors: SafeTensors(bytes: TestModels.small().serialized(), path: "x"), path: "x").flipTest
                == false)
        #expect(loaded.weights == model.weights)
        // The container is plain safetensors: 8-byte length, JSON header, aligned data.
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        #expect(length % 8 == 0 && bytes[8] == UInt8(ascii: "{"))
    }

    /// Each kind of damage gives a ModelError whose message says what is wrong.
    @Test func damagedFilesAreExplained() throws {
        let model = try TestModels.small()
        let good = model.serialized()
        let folder = try TemporaryFolder()
        func error(for bytes: [UInt8]) -> String {
            let path = try! folder.write(bytes, to: "damaged.safetensors")
            do {
                _ = try Model.load(contentsOf: path)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        #expect(error(for: Array(good.prefix(good.count - 100))).contains("lies outside the file"))
        #expect(error(for: Array(good.prefix(5))).contains("too short"))
        var wrongLength = good
        wrongLength[0] = 0xFF
        wrongLength[1] = 0xFF
        wrongLength[2] = 0xFF
        #expect(error(for: wrongLength).contains("the header claims"))
        #expect(error(for: Array("hello world, not a model".utf8)).contains("the header claims"))

        var withNaN = model
        withNaN.weights["head.bias"]!.data[0] = .nan
        #expect(error(for: withNaN.serialized()).contains("non-finite"))

        var misshapen = model
        misshapen.weights["stem.weight"] = Tensor(zeros: [8, 3, 3, 3])  // lacks the two coordinate channels
        #expect(
            error(for: misshapen.serialized()).contains(
                "has shape [8, 3, 3, 3], but the architecture needs [8, 5, 3, 3]"))

        var excludingNothing = model
        excludingNothing.flipTestExcluded = [model.keypointNames.count]
        #expect(error(for: excludingNothing.serialized()).contains("flip_test_excluded must list keypoint indices"))

        var missing = model
        missing.weights["down2.bn.running_var"] = nil
        #expect(error(for: missing.serialized()).contains("'down2.bn.running_var'"))

        let unknownLayer = model.architecture.json().replacingOccurrences(of: "\"upsample\"", with: "\"teleport\"")
        var file = try SafeTensors(bytes: good, path: "x")
        file.metadata["architecture"] = unknownLayer
        #expect(error(for: file.serialized()).contains("architecture JSON does not parse"))

        file = try SafeTensors(bytes: good, path: "x")
        file.metadata["second_pass_scale"] = "0.5"
        #expect(error(for: file.serialized()).contains("'second_pass_scale' must be a number of at least 1, not '0.5'"))

        file = try SafeTensors(bytes: good, path: "x")
        file.metadata["score_threshold"] = "1.5"
        #expect(error(for: file.serialized()).contains("'score_threshold' must be a number from 0 to 1, not '1.5'"))

        file = try SafeTensors(bytes: good, path: "x")
        file.metadata["subject_reach"] = "-3"
        #expect(error(for: file.serialized()).contains("'subject_reach' must be a positive number, not '-3'"))

        file = try SafeTensors(bytes: good, path: "x")
        file.metadata["heatmap_score"] = "area"
        #expect(error(for: file.serialized()).contains("'heatmap_score' must be peak or mass, not 'area'"))

        file = try SafeTensors(bytes: good, path: "x")
        file.metadata["flip_test"] = "yes"
        #expect(error(for: file.serialized()).contains("'flip_test' must be true or false, not 'yes'"))

        file = try SafeTensors(bytes: good, path: "x")
        file.metadata["format"] = nil
        #expect(error(for: file.serialized()).contains("format 'swift-keypoints'"))

        var wrongNames = model
        wrongNames.keypointNames = ["a", "b"]
        #expect(error(for: wrongNames.serialized()).contains("3 channels but the model names 2 keypoints"))
    }
}

/// Image in, keypoints out, without training: a hand-built network whose heatmap is a blurred
/// copy of the red channel, on a non-square image with bright Gaussian dots at known subpixel
/// positions, letterboxed into a square input. The decoded keypoints must land within 0.1 px of
/// the dots in original image pixels.
struct EndToEndTests {
    /// Three heatmaps, each a Gaussian blur (sigma 1) of input channel `source(keypoint)`, at
    /// `heatmapStride` 1 or 2 (a 2x2 average pool first), on a 64x64 input.
    static func blurModel(heatmapStride: Int, source channelOf: (Int) -> Int) -> Model {
        let inputSize = 64
        // stride 1: 5x5 Gaussian blur of the red channel; stride 2: 2x2 average pool first.
        var layers: [Architecture.Layer] = []
        var source = "input"
        if heatmapStride == 2 {
            layers.append(Architecture.Layer(name: "pool", op: .avgPool, inputs: ["input"], kernel: 2, stride: 2))
            source = "pool"
        }
        layers.append(
            Architecture.Layer(
                name: "blur", op: .conv, inputs: [source], outChannels: 3, kernel: 5, stride: 1,
                padding: 2, groups: 1, coordinates: false, batchNorm: false, activation: "none"))
        let architecture = Architecture(
            inputHeight: inputSize, inputWidth: inputSize, heatmapStride: heatmapStride,
            layers: layers, output: "blur")
        // Each output channel c blurs input channel 0 (red) with a Gaussian of sigma 1.
        var kernel = [Float](repeating: 0, count: 3 * 3 * 25)
        let taps = (-2...2).map { exp(-Double($0 * $0) / 2) }
        let total = taps.reduce(0, +)
        for output in 0..<3 {
            for y in 0..<5 {
                for x in 0..<5 {
                    kernel[output * 75 + channelOf(output) * 25 + y * 5 + x] = Float(
                        taps[y] * taps[x] / (total * total))
                }
            }
        }
        return Model(
            architecture: architecture, keypointNames: ["a", "b", "c"], mean: [0, 0, 0], std: [1, 1, 1],
            heatmapSigma: 1.5,
            weights: ["blur.weight": Tensor(shape: [3, 3, 5, 5], data: kernel), "blur.bias": Tensor(zeros: [3])])
    }

    /// An image of Gaussian dots (sigma `radius`), each dot in its own colour channel.
    static func dots(_ dots: [(x: Double, y: Double, channel: Int)], width: Int, height: Int, radius: Double) -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for dot in dots {
            for row in 0..<height {
                for column in 0..<width {
                    let dx = Double(column) - dot.x
                    let dy = Double(row) - dot.y
                    pixels[(row * width + column) * 3 + dot.channel] = UInt8(
                        (255 * exp(-(dx * dx + dy * dy) / (2 * radius * radius))).rounded())
                }
            }
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    @Test(arguments: [1, 2])
    func dotsComeBackInImagePixels(heatmapStride: Int) throws {
        let model = Self.blurModel(heatmapStride: heatmapStride) { _ in 0 }
        let predictor = try Predictor(model: model, threads: 2)

        // One dot per image (the heatmap of every keypoint sees all dots, so draw them one at a time).
        let width = 160
        let height = 100
        for (x, y) in [(40.3, 30.7), (120.6, 70.2), (80.45, 49.5)] {
            let keypoints = predictor.predict(Self.dots([(x, y, 0)], width: width, height: height, radius: 5))
            let found = keypoints[0]
            let error = ((found.x - x) * (found.x - x) + (found.y - y) * (found.y - y)).squareRoot()
            #expect(error <= 0.1, "stride \(heatmapStride): dot at (\(x), \(y)) found at (\(found.x), \(found.y))")
            #expect(found.score > 0.3)  // the blurred dot's peak: measured 0.45 at stride 2, higher at stride 1
        }
    }

    /// An image the input's size, or letterboxed without scaling, is copied pixel by pixel
    /// through a table of normalised samples; the input must equal the bilinear warp's (which
    /// lands on whole pixels there) value for value, border included.
    @Test(arguments: [(64, 64), (64, 48), (50, 64), (64, 42)])
    func wholePixelInputEqualsTheWarp(width: Int, height: Int) throws {
        var model = Self.blurModel(heatmapStride: 1) { _ in 0 }
        (model.mean, model.std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        let predictor = try Predictor(model: model, threads: 1)
        var random = SplitMix64(seed: 7)
        let image = Image(
            width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(random.next() % 256) })
        let inference = predictor.infer(image, flipTest: false)
        let transform = inference.transform
        #expect(transform.a == 1 && transform.tx == transform.tx.rounded() && transform.ty == transform.ty.rounded())
        var warped = [Float](repeating: .nan, count: 3 * 64 * 64)
        image.warpSamples(by: transform, width: 64, height: 64, fill: .black) { index, channel, value in
            warped[channel * 64 * 64 + index] = model.normalization(value, channel: channel)
        }
        #expect(inference.input.data == warped)
    }

    /// A part whose heatmap peaks far from the others (a brighter blob across the image, as a
    /// rarely labeled part fires on an arena corner) is found on its own blob beside the subject
    /// when the model records the subject's reach (`SubjectReach`), within 0.1 px; the parts that
    /// agree decode exactly as without it, and without a reach the far blob wins.
    @Test func aPartPeakingBeyondTheSubjectsReachIsFoundWithinIt() throws {
        var model = Self.blurModel(heatmapStride: 1) { $0 }
        let dots = [
            (x: 14.3, y: 16.7, channel: 0), (x: 20.6, y: 13.2, channel: 1), (x: 17.45, y: 22.5, channel: 2),
            (x: 52.2, y: 50.4, channel: 2),
        ]
        // The subject's blue dot is smaller, so its blurred peak is the lower one.
        var image = Self.dots(Array(dots[0..<3]), width: 64, height: 64, radius: 2)
        let far = Self.dots([dots[3]], width: 64, height: 64, radius: 4)
        image.pixels = zip(image.pixels, far.pixels).map { max($0, $1) }
        let plain = try Predictor(model: model, threads: 1).predict(image, flipTest: false)
        model.subjectReach = 8  // the disc: 1.5 x 8 + 3 sigma = 16.5 px about the parts' median
        let kept = try Predictor(model: model, threads: 1).predict(image, flipTest: false)
        #expect(abs(plain[2].x - dots[3].x) < 0.5 && abs(plain[2].y - dots[3].y) < 0.5, "\(plain[2])")
        #expect(kept[0] == plain[0] && kept[1] == plain[1])
        let error = hypot(kept[2].x - dots[2].x, kept[2].y - dots[2].y)
        #expect(error <= 0.1, "found at (\(kept[2].x), \(kept[2].y))")
        #expect(kept[2].score < plain[2].score)
    }

    /// The flip test averages channel 1 with the mirrored pass's channel 2 (its partner), so with
    /// blobs in different places, channel 2's the higher, part 1 is found on it; a part the model excludes
    /// from the flip test, and its partner, decode exactly as without the flip test, and a part
    /// outside any pair as with it.
    @Test func theFlipTestLeavesExcludedPartsToTheUnmirroredPass() throws {
        var model = Self.blurModel(heatmapStride: 1) { $0 }
        model.flipPairs = [[1, 2]]
        let dots = [(x: 20.3, y: 30.7, channel: 0), (x: 14.6, y: 12.2, channel: 1), (x: 44.45, y: 50.5, channel: 2)]
        // Channel 2's dot is larger, so its blurred peak is the higher one and wins channel 1's average.
        var image = Self.dots(Array(dots[0..<2]), width: 64, height: 64, radius: 2)
        let larger = Self.dots([dots[2]], width: 64, height: 64, radius: 4)
        image.pixels = zip(image.pixels, larger.pixels).map { max($0, $1) }
        let plain = try Predictor(model: model, threads: 1).predict(image, flipTest: false)
        let averaged = try Predictor(model: model, threads: 1).predict(image, flipTest: true)
        #expect(hypot(plain[1].x - dots[1].x, plain[1].y - dots[1].y) < 0.5, "\(plain[1])")
        #expect(hypot(averaged[1].x - dots[2].x, averaged[1].y - dots[2].y) < 0.5, "\(averaged[1])")
        model.flipTestExcluded = [1, 2]
        let excluded = try Predictor(model: model, threads: 1).predict(image, flipTest: true)
        #expect(excluded[1] == plain[1] && excluded[2] == plain[2])
        #expect(excluded[0] == averaged[0])
    }

    /// A small subject (three dots, one per keypoint, in a 40 px patch of a 320x200 image) is a
    /// few input pixels when letterboxed; the second pass looks again at the box around the first
    /// pass's points (2x their extent, so 80 px into the 64 px input) and finds them within 0.1 px.
    @Test func secondPassLooksAgainAtTheSubject() throws {
        var model = Self.blurModel(heatmapStride: 1) { $0 }
        model.secondPassScale = 2
        let predictor = try Predictor(model: model, threads: 2)
        let dots = [
            (x: 200.3, y: 60.7, channel: 0), (x: 230.6, y: 90.2, channel: 1), (x: 215.45, y: 100.5, channel: 2),
        ]
        let image = Self.dots(dots, width: 320, height: 200, radius: 2.5)
        let inference = predictor.infer(image)
        #expect(abs(inference.transform.a - 64 / (2 * 39.8)) < 0.01, "input pixels per image pixel")
        for (found, dot) in zip(inference.keypoints, dots) {
            let error = ((found.x - dot.x) * (found.x - dot.x) + (found.y - dot.y) * (found.y - dot.y)).squareRoot()
            #expect(error <= 0.1, "dot at (\(dot.x), \(dot.y)) found at (\(found.x), \(found.y))")
        }
        predictor.secondPassScale = nil
        let once = predictor.infer(image)
        #expect(once.transform.a == 0.2)
        let errors = zip(once.keypoints, dots).map { found, dot in
            ((found.x - dot.x) * (found.x - dot.x) + (found.y - dot.y) * (found.y - dot.y)).squareRoot()
        }
        #expect(errors.allSatisfy { $0 > 0.15 }, "one pass alone: \(errors) px (measured 0.19-0.21)")
    }
}

struct FlipPairTests {
    @Test func pairsFromNames() {
        #expect(FlipPairs.infer(["snout", "leftear", "rightear", "tailbase"]) == [[1, 2]])
        #expect(FlipPairs.infer(["r_ankle", "l_ankle", "neck"]) == [[1, 0]])
        #expect(FlipPairs.infer(["Left_Eye", "Right_Eye", "wing_l", "wing_r"]) == [[0, 1], [2, 3]])
        // Lightning Pose's mirror mouse (paws numbered around the body) and the bees' legs.
        let mirror = ["paw1LH_top", "paw2LF_top", "paw3RF_top", "paw4RH_top", "paw1LH_bot", "paw4RH_bot", "nose_top"]
        #expect(FlipPairs.infer(mirror) == [[0, 3], [1, 2], [4, 5]])
        #expect(FlipPairs.infer(["forelegL1", "forelegR1", "forelegL2", "forelegR2", "thorax"]) == [[0, 1], [2, 3]])
        #expect(FlipPairs.infer(["obsLow_bot", "obsRound_bot"]) == [], "a capital starting a word is not a side")
        #expect(
            FlipPairs.infer(["finger1L", "finger2R", "finger3R"]) == [], "an ambiguous digit-free match pairs nothing")
        #expect(FlipPairs.infer(["left_only", "nose"]).isEmpty)
        #expect(
            FlipPairs.infer(["REar", "LEar", "earL", "earR", "l-paw", "r-paw", "hip.r", "hip.l"]) == [
                [1, 0], [2, 3], [4, 5], [7, 6],
            ])
        #expect(FlipPairs.infer(["Paw2L", "Paw2R", "ear_Left", "ear_Right"]) == [[0, 1], [2, 3]])
        // A bare l/r glued to a small letter is not a side: "rear" is the back of something.
        #expect(FlipPairs.infer(["lear", "rear", "tailR", "LED"]).isEmpty)
    }

    @Test func pairsGivenByName() throws {
        let names = ["snout", "ear1", "ear2", "paw_a", "paw_b"]
        #expect(try FlipPairs.parse("ear1/ear2, paw_b/paw_a", names: names) == [[1, 2], [4, 3]])
        #expect(
            throws: InputError.invalid("'ear3' is not a keypoint; the keypoints are snout,ear1,ear2,paw_a,paw_b")
        ) {
            try FlipPairs.parse("ear1/ear3", names: names)
        }
        #expect(throws: InputError.invalid("'ear1' is in two left/right pairs")) {
            try FlipPairs.parse("ear1/ear2,paw_a/ear1", names: names)
        }
        #expect(throws: InputError.invalid("expected left/right name pairs such as leftear/rightear, got 'ear1'")) {
            try FlipPairs.parse("ear1", names: names)
        }
    }
}
