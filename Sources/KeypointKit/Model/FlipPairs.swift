/// Left/right keypoint pairs: mirroring an image swaps each pair's labels (training's flip
/// augmentation, the flip test). Pairs are [left, right] indices into the keypoint names.
public enum FlipPairs {
    /// Pairs inferred from names, each name reduced to a side and the rest of it:
    /// - "left"/"right" anywhere, case ignored: left_wrist, LeftEar, ear_left;
    /// - "l"/"r" set off by "_", "-", "." or a space at either end: l_ankle, R-knee, ear.l;
    /// - a capital L/R before another capital (LEar, RForepaw) or after a small letter or digit
    ///   (earL, paw2R), also inside a name when a capital, digit or separator follows it
    ///   (forelegL1 / forelegR1, paw1LH_top / paw4RH_top).
    /// A bare l/r glued to a small letter (lear, rear) is ambiguous and not paired. Names that
    /// match only once their digits are set aside pair too when that match is unique: the mirror
    /// mouse's paws are numbered around the body (paw1LH with paw4RH, paw2LF with paw3RF).
    public static func infer(_ names: [String]) -> [[Int]] {
        let sides = names.map(side)
        func withoutDigits(_ text: String) -> String { String(text.filter { !$0.isNumber }) }
        var pairs: [[Int]] = []
        for (left, sided) in sides.enumerated() {
            guard let sided, sided.isLeft else { continue }
            let rights = sides.indices.filter { sides[$0] != nil && !sides[$0]!.isLeft }
            let exact = rights.filter { sides[$0]!.rest == sided.rest }
            let loose = rights.filter { withoutDigits(sides[$0]!.rest) == withoutDigits(sided.rest) }
            if let right = exact.first ?? (loose.count == 1 ? loose.first : nil),
                !pairs.contains(where: { $0[1] == right })
            {
                pairs.append([left, right])
            }
        }
        return pairs
    }

    /// Each of `count` keypoints' mirror image under `pairs`: its partner, or itself when it has
    /// none (pairs naming an index past `count` are left out).
    public static func partners(_ pairs: [[Int]], count: Int) -> [Int] {
        var partner = Array(0..<count)
        for pair in pairs where pair.count == 2 && pair.allSatisfy({ (0..<count).contains($0) }) {
            (partner[pair[0]], partner[pair[1]]) = (pair[1], pair[0])
        }
        return partner
    }

    /// Pairs given as "leftear/rightear,l_paw/r_paw" (left name first, then right).
    public static func parse(_ text: String, names: [String]) throws -> [[Int]] {
        var pairs: [[Int]] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0] != parts[1] else {
                throw InputError.invalid("expected left/right name pairs such as leftear/rightear, got '\(item)'")
            }
            let indices = try parts.map { part in
                guard let index = names.firstIndex(of: part) else {
                    throw InputError.invalid(
                        "'\(part)' is not a keypoint; the keypoints are \(names.joined(separator: ","))")
                }
                return index
            }
            if let used = indices.first(where: { index in pairs.contains { $0.contains(index) } }) {
                throw InputError.invalid("'\(names[used])' is in two left/right pairs")
            }
            pairs.append(indices)
        }
        return pairs
    }

    /// The side a name names and the name without it, or nil for a name with no side.
    private static func side(_ name: String) -> (isLeft: Bool, rest: String)? {
        let lower = name.lowercased()
        for (word, isLeft) in [("left", true), ("right", false)] where lower.contains(word) {
            return (isLeft, lower.replacingOccurrences(of: word, with: "*"))
        }
        let separators: Set<Character> = ["_", "-", ".", " "]
        let characters = Array(name)
        guard characters.count >= 3 else { return nil }
        let (first, second) = (characters[0], characters[1])
        let (last, beforeLast) = (characters[characters.count - 1], characters[characters.count - 2])
        let sideLetters: [Character: Bool] = ["l": true, "r": false, "L": true, "R": false]
        if let isLeft = sideLetters[first], separators.contains(second) || (first.isUppercase && second.isUppercase) {
            return (isLeft, "*" + String(lower.dropFirst(separators.contains(second) ? 2 : 1)))
        }
        if let isLeft = sideLetters[last],
            separators.contains(beforeLast) || (last.isUppercase && (beforeLast.isLowercase || beforeLast.isNumber))
        {
            return (isLeft, String(lower.dropLast(separators.contains(beforeLast) ? 2 : 1)) + "*")
        }
        // A capital L/R inside: after a small letter or digit, before a capital, digit or separator.
        for position in 1..<(characters.count - 1) {
            let letter = characters[position]
            guard letter == "L" || letter == "R" else { continue }
            let (before, after) = (characters[position - 1], characters[position + 1])
            if (before.isLowercase || before.isNumber)
                && (after.isUppercase || after.isNumber || separators.contains(after))
            {
                var rest = Array(lower)
                rest[position] = "*"
                return (letter == "L", String(rest))
            }
        }
        return nil
    }
}
