/// Left/right keypoint pairs inferred from names: "left"/"right" anywhere in the name
/// (left_wrist, leftear), or the prefixes "l_"/"r_" and suffixes "_l"/"_r"; case ignored.
public enum FlipPairs {
    public static func infer(_ names: [String]) -> [[Int]] {
        let lower = names.map { $0.lowercased() }
        var pairs: [[Int]] = []
        for (index, name) in lower.enumerated() {
            var partner: String?
            if name.contains("left") {
                partner = name.replacingOccurrences(of: "left", with: "right")
            } else if name.hasPrefix("l_") {
                partner = "r_" + name.dropFirst(2)
            } else if name.hasSuffix("_l") {
                partner = name.dropLast(2) + "_r"
            }
            if let partner, let other = lower.firstIndex(of: partner), other != index {
                pairs.append([index, other])
            }
        }
        return pairs
    }
}
