extension Image {
    /// Draws keypoints and the skeleton between them: a disc per keypoint in its palette colour,
    /// lines between skeleton pairs; keypoints scoring below `minimumScore` are left out, with their
    /// lines. Sizes follow the image: lines min(w, h) / 200 wide (at least 1.5 px), discs twice that.
    public mutating func drawKeypoints(_ keypoints: [Keypoint], skeleton: [[Int]], minimumScore: Float = 0) {
        let lineWidth = max(Double(min(width, height)) / 200, 1.5)
        let visible = keypoints.map { $0.score >= minimumScore && $0.x.isFinite && $0.y.isFinite }
        for pair in skeleton
        where pair.count == 2 && visible.indices.contains(pair[0]) && visible.indices.contains(pair[1]) {
            guard visible[pair[0]] && visible[pair[1]] else { continue }
            let from = keypoints[pair[0]]
            let to = keypoints[pair[1]]
            drawLine(
                from: Point(x: from.x, y: from.y), to: Point(x: to.x, y: to.y), width: lineWidth,
                color: KeypointPalette.color(pair[0], of: keypoints.count), opacity: 0.8)
        }
        for (index, keypoint) in keypoints.enumerated() where visible[index] {
            let center = Point(x: keypoint.x, y: keypoint.y)
            fillCircle(center: center, radius: lineWidth * 2 + 1, color: .white, opacity: 0.9)
            fillCircle(center: center, radius: lineWidth * 2, color: KeypointPalette.color(index, of: keypoints.count))
        }
    }
}
