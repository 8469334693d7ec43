import Foundation

// Anti-aliased drawing for overlays. Coverage of a pixel is approximated from the distance d
// between its centre and the shape's edge: coverage = clamp(0.5 - d, 0, 1) (d < 0 inside), a
// one-pixel-wide linear ramp across the edge. The colour is blended with alpha = opacity * coverage:
//   out = round(colour * alpha + old * (1 - alpha))

extension Image {
    /// A line of `width` pixels with round caps from `start` to `end`.
    public mutating func drawLine(
        from start: Point, to end: Point, width lineWidth: Double, color: RGB, opacity: Double = 1
    ) {
        let radius = max(lineWidth, 0) / 2
        let dx = end.x - start.x
        let dy = end.y - start.y
        let lengthSquared = dx * dx + dy * dy
        paint(
            minX: min(start.x, end.x) - radius, maxX: max(start.x, end.x) + radius,
            minY: min(start.y, end.y) - radius, maxY: max(start.y, end.y) + radius, color: color, opacity: opacity
        ) { x, y in
            // Distance from (x, y) to the closest point of the segment.
            let t = lengthSquared > 0 ? min(max(((x - start.x) * dx + (y - start.y) * dy) / lengthSquared, 0), 1) : 0
            let closestX = start.x + t * dx
            let closestY = start.y + t * dy
            return ((x - closestX) * (x - closestX) + (y - closestY) * (y - closestY)).squareRoot() - radius
        }
    }

    /// A filled disc of `radius` pixels around `center`.
    public mutating func fillCircle(center: Point, radius: Double, color: RGB, opacity: Double = 1) {
        paint(
            minX: center.x - radius, maxX: center.x + radius, minY: center.y - radius, maxY: center.y + radius,
            color: color, opacity: opacity
        ) { x, y in
            ((x - center.x) * (x - center.x) + (y - center.y) * (y - center.y)).squareRoot() - radius
        }
    }

    /// Blends `color` into every pixel of the box (grown by one pixel for the edge ramp) by the
    /// coverage its signed edge distance gives.
    private mutating func paint(
        minX: Double, maxX: Double, minY: Double, maxY: Double, color: RGB, opacity: Double,
        signedDistance: (Double, Double) -> Double
    ) {
        guard [minX, maxX, minY, maxY, opacity].allSatisfy(\.isFinite), width > 0, height > 0 else { return }
        // Clamped to the image (and one past it) before converting, so any finite box is safe.
        let left = Int(min(max(minX - 1, 0), Double(width)).rounded(.down))
        let right = Int(max(min(maxX + 1, Double(width - 1)), -1).rounded(.up))
        let top = Int(min(max(minY - 1, 0), Double(height)).rounded(.down))
        let bottom = Int(max(min(maxY + 1, Double(height - 1)), -1).rounded(.up))
        guard left <= right, top <= bottom else { return }
        let opacity = min(max(opacity, 0), 1)
        let colour = [Double(color.red), Double(color.green), Double(color.blue)]
        for y in top...bottom {
            for x in left...right {
                let coverage = min(max(0.5 - signedDistance(Double(x), Double(y)), 0), 1)
                let alpha = opacity * coverage
                if alpha <= 0 { continue }
                let index = (y * width + x) * 3
                for channel in 0..<3 {
                    let old = Double(pixels[index + channel])
                    pixels[index + channel] = UInt8((colour[channel] * alpha + old * (1 - alpha)).rounded())
                }
            }
        }
    }
}

/// Distinct, saturated colours for keypoints: hues evenly spread around the colour wheel.
public enum KeypointPalette {
    public static func color(_ index: Int, of count: Int) -> RGB {
        let hue = Double(index) / Double(max(count, 1))
        return fromHSV(hue: hue, saturation: 0.85, value: 1)
    }

    /// HSV (each in 0...1) to RGB.
    static func fromHSV(hue: Double, saturation: Double, value: Double) -> RGB {
        let sector = (hue - hue.rounded(.down)) * 6
        let index = Int(sector) % 6
        let fraction = sector - sector.rounded(.down)
        let p = value * (1 - saturation)
        let q = value * (1 - saturation * fraction)
        let t = value * (1 - saturation * (1 - fraction))
        let (r, g, b): (Double, Double, Double)
        switch index {
        case 0: (r, g, b) = (value, t, p)
        case 1: (r, g, b) = (q, value, p)
        case 2: (r, g, b) = (p, value, t)
        case 3: (r, g, b) = (p, q, value)
        case 4: (r, g, b) = (t, p, value)
        default: (r, g, b) = (value, p, q)
        }
        return RGB(UInt8((r * 255).rounded()), UInt8((g * 255).rounded()), UInt8((b * 255).rounded()))
    }
}
