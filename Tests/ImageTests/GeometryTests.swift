import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct GeometryTests {
    static func close(_ a: Point, _ b: Point, _ tolerance: Double = 1e-9) -> Bool {
        abs(a.x - b.x) <= tolerance && abs(a.y - b.y) <= tolerance
    }

    @Test func inverseUndoesTheTransform() throws {
        let transform = AffineTransform.crop(
            center: Point(x: 40, y: 25), width: 30, height: 20, targetWidth: 64, targetHeight: 48,
            rotationDegrees: 33, flip: true)
        let inverse = try #require(transform.inverse)
        var random = SplitMix64(seed: 5)
        for _ in 0..<50 {
            let point = Point(
                x: Double.random(in: -100...100, using: &random), y: Double.random(in: -100...100, using: &random))
            #expect(Self.close(inverse.apply(transform.apply(point)), point, 1e-9))
        }
        #expect(Self.close(transform.followed(by: inverse).apply(Point(x: 3, y: 4)), Point(x: 3, y: 4)))
        #expect(AffineTransform(a: 1, b: 2, tx: 0, c: 2, d: 4, ty: 0).inverse == nil)
    }

    /// The box centre lands on the target centre, the box edges on the target edges, a positive
    /// angle turns content counter-clockwise on screen, and flip mirrors left and right.
    @Test func cropMapsTheBoxOntoTheTarget() {
        let plain = AffineTransform.crop(
            center: Point(x: 50, y: 30), width: 20, height: 10, targetWidth: 40, targetHeight: 20)
        #expect(Self.close(plain.apply(Point(x: 50, y: 30)), Point(x: 19.5, y: 9.5)))
        // The box's left edge x = 40 is the target's left edge x = -0.5.
        #expect(Self.close(plain.apply(Point(x: 40, y: 25)), Point(x: -0.5, y: -0.5)))
        let turned = AffineTransform.crop(
            center: Point(x: 0, y: 0), width: 10, height: 10, targetWidth: 11, targetHeight: 11, rotationDegrees: 90)
        // A point to the right of the centre ends up above it (y smaller) when turned counter-clockwise.
        let right = turned.apply(Point(x: 1, y: 0))
        #expect(Self.close(right, Point(x: 5, y: 5 - 1.1)))
        let mirrored = AffineTransform.crop(
            center: Point(x: 0, y: 0), width: 10, height: 10, targetWidth: 11, targetHeight: 11, flip: true)
        #expect(Self.close(mirrored.apply(Point(x: 1, y: 0)), Point(x: 5 - 1.1, y: 5)))
    }

    @Test func letterboxCentresAndKeepsAspect() {
        // 200 x 100 into 64 x 64: scale 0.32, content 64 x 32 centred vertically (bands of 16).
        let transform = AffineTransform.letterbox(
            sourceWidth: 200, sourceHeight: 100, targetWidth: 64, targetHeight: 64)
        #expect(Self.close(transform.apply(Point(x: -0.5, y: -0.5)), Point(x: -0.5, y: 15.5)))
        #expect(Self.close(transform.apply(Point(x: 199.5, y: 99.5)), Point(x: 63.5, y: 47.5)))
        #expect(abs(transform.a - 0.32) < 1e-12 && transform.b == 0)
    }

    @Test func warpWithIdentityAndIntegerShiftCopiesPixels() {
        let image = Image(width: 9, height: 7, pixels: testPicture(width: 9, height: 7))
        #expect(image.warped(by: .identity, width: 9, height: 7) == image)
        let shift = AffineTransform(a: 1, b: 0, tx: 2, c: 0, d: 1, ty: 1)
        let shifted = image.warped(by: shift, width: 9, height: 7, fill: RGB(1, 2, 3))
        #expect(shifted[2, 1] == image[0, 0] && shifted[8, 6] == image[6, 5])
        #expect(shifted[0, 0] == RGB(1, 2, 3) && shifted[1, 3] == RGB(1, 2, 3))
    }

    @Test func warpSamplesBilinearly() {
        // Two pixels 0 and 200 wide apart: half a pixel between them is 100.
        let image = Image(width: 2, height: 1, pixels: [0, 0, 0, 200, 200, 200])
        let halfShift = AffineTransform(a: 1, b: 0, tx: -0.5, c: 0, d: 1, ty: 0)
        let warped = image.warped(by: halfShift, width: 1, height: 1)
        #expect(warped[0, 0] == RGB(100, 100, 100))
    }

    /// The warp (its axis-aligned loop for scalings, shifts and mirroring; its general loop for
    /// rotations) against plain bilinear sampling with a constant border, on maps that put taps
    /// inside, across the border and outside: within 1e-9.
    @Test(arguments: [
        KeypointKit.AffineTransform.letterbox(sourceWidth: 13, sourceHeight: 9, targetWidth: 32, targetHeight: 32),
        KeypointKit.AffineTransform.letterbox(sourceWidth: 13, sourceHeight: 9, targetWidth: 8, targetHeight: 8),
        KeypointKit.AffineTransform(a: 1, b: 0, tx: -3.25, c: 0, d: 1, ty: 2.5),
        KeypointKit.AffineTransform.crop(
            center: Point(x: 4, y: 3), width: 9, height: 9, targetWidth: 16, targetHeight: 16, flip: true),
        KeypointKit.AffineTransform.crop(
            center: Point(x: 6, y: 4), width: 10, height: 8, targetWidth: 15, targetHeight: 12, rotationDegrees: 30),
    ])
    func warpMatchesPlainBilinearSampling(transform: KeypointKit.AffineTransform) throws {
        let (width, height) = (13, 9)
        let image = Image(width: width, height: height, pixels: testPicture(width: width, height: height))
        let fill = [7.0, 8, 9]
        let inverse = try #require(transform.inverse)
        var worst = 0.0
        image.warpSamples(by: transform, width: 16, height: 12, fill: RGB(7, 8, 9)) { index, channel, value in
            let source = inverse.apply(Point(x: Double(index % 16), y: Double(index / 16)))
            func pixel(_ x: Int, _ y: Int) -> Double {
                guard x >= 0, y >= 0, x < width, y < height else { return fill[channel] }
                return Double(image.pixels[(y * width + x) * 3 + channel])
            }
            var expected = fill[channel]
            if source.x > -1 && source.y > -1 && source.x < Double(width) && source.y < Double(height) {
                let x0 = Int(source.x.rounded(.down)), y0 = Int(source.y.rounded(.down))
                let fx = source.x - Double(x0), fy = source.y - Double(y0)
                expected =
                    (pixel(x0, y0) * (1 - fx) + pixel(x0 + 1, y0) * fx) * (1 - fy)
                    + (pixel(x0, y0 + 1) * (1 - fx) + pixel(x0 + 1, y0 + 1) * fx) * fy
            }
            worst = max(worst, abs(value - expected))
        }
        #expect(worst <= 1e-9)
    }

    @Test func resizeFollowsThePixelCentreConvention() {
        // Upsampling [0, 100] by 2: targets sample source x = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
        let image = Image(width: 2, height: 1, pixels: [0, 0, 0, 100, 100, 100])
        let wide = image.resized(width: 4, height: 1)
        #expect((0..<4).map { wide[$0, 0].red } == [0, 25, 75, 100])
        let flat = Image(width: 31, height: 17, fill: RGB(9, 99, 199)).resized(width: 13, height: 40)
        #expect(flat == Image(width: 13, height: 40, fill: RGB(9, 99, 199)))
        let same = Image(width: 9, height: 7, pixels: testPicture(width: 9, height: 7))
        #expect(same.resized(width: 9, height: 7) == same)
    }

    @Test func tensorIsCHWWithMeanAndStd() {
        let image = Image(width: 2, height: 1, pixels: [255, 0, 51, 0, 255, 102])
        let tensor = image.tensor(mean: [0.5, 0, 0.2], std: [0.5, 1, 0.1])
        #expect(tensor.shape == [1, 3, 1, 2])
        let expected: [Float] = [1, -1, 0, 1, 0, 2]
        #expect(zip(tensor.data, expected).allSatisfy { abs($0 - $1) < 1e-6 })
        let warped = image.warpedTensor(by: .identity, width: 2, height: 1, mean: [0.5, 0, 0.2], std: [0.5, 1, 0.1])
        #expect(zip(warped.data, expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}

struct DrawingTests {
    /// "L" at scale 2: seven cells down the left and four more along the bottom, each 2x2 pixels;
    /// lower case is drawn as capitals; text is clipped at the image edge.
    @Test func textLightsTheGlyphCells() {
        var image = Image(width: 14, height: 16, fill: .black)
        image.drawText("l", x: 1, y: 1, scale: 2, color: .white)
        let lit = stride(from: 0, to: image.pixels.count, by: 3).filter { image.pixels[$0] == 255 }.count
        #expect(lit == 11 * 4)
        #expect(image.pixels[(1 * 14 + 1) * 3] == 255 && image.pixels[(13 * 14 + 9) * 3 + 1] == 255)
        #expect(image.pixels[(1 * 14 + 3) * 3] == 0)  // the top row of "L" is one cell wide
        #expect(Image.textWidth("AB", scale: 2) == 22)
        image.drawText("WWWW", x: 10, y: 12, scale: 3, color: .white)  // mostly outside: no trap
    }

    @Test func filledCircleCoversItsDiscWithSoftEdges() {
        var image = Image(width: 21, height: 21)
        image.fillCircle(center: Point(x: 10, y: 10), radius: 5, color: RGB(200, 100, 50))
        #expect(image[10, 10] == RGB(200, 100, 50))
        #expect(image[10, 6] == RGB(200, 100, 50))  // 4 px from the centre: fully inside
        #expect(image[10, 15] == RGB(100, 50, 25))  // the edge passes through this pixel's centre: half covered
        #expect(image[10, 17] == .black && image[0, 0] == .black)
    }

    @Test func opacityBlends() {
        var image = Image(width: 5, height: 5, fill: RGB(100, 100, 100))
        image.fillCircle(center: Point(x: 2, y: 2), radius: 2, color: RGB(200, 0, 100), opacity: 0.25)
        #expect(image[2, 2] == RGB(125, 75, 100))
    }

    @Test func thickLineHasRoundCapsAndStaysInItsCapsule() {
        var image = Image(width: 30, height: 20)
        image.drawLine(from: Point(x: 5, y: 10), to: Point(x: 25, y: 10), width: 4, color: .white)
        #expect(image[15, 10] == .white && image[15, 9] == .white && image[15, 11] == .white)
        #expect(image[15, 12] == RGB(128, 128, 128))  // distance 2 = half the width: half covered
        #expect(image[15, 14] == .black)
        #expect(image[4, 10] == .white && image[2, 10] == .black)  // cap of radius 2 around the end
        // Shapes partly or wholly outside the image are clipped, never out of bounds.
        image.drawLine(from: Point(x: -50, y: -50), to: Point(x: 1e12, y: 5), width: 3, color: .white)
        image.fillCircle(center: Point(x: -1e300, y: 1e300), radius: 1e300, color: .white)
    }

    @Test func paletteGivesDistinctColours() {
        let colours = (0..<14).map { KeypointPalette.color($0, of: 14) }
        #expect(Set(colours).count == 14)
        #expect(KeypointPalette.color(0, of: 3) == RGB(255, 38, 38))
    }
}
