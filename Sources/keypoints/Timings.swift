import KeypointKit

/// Repeated timings of one thing as the benchmarks report them: the median, which the figures
/// derive from, and the fastest and slowest run, which show how much the machine drifted.
struct Timings {
    let min: Double
    let median: Double
    let max: Double

    /// - Precondition: `values` is not empty.
    init(_ values: [Double]) {
        let sorted = values.sorted()
        (min, median, max) = (sorted[0], sorted[sorted.count / 2], sorted[sorted.count - 1])
    }

    /// "median 16.480 ms (min 16.110, max 17.020)" with `format` for each number.
    func text(unit: String, format: String = "%.3f") -> String {
        "median " + String(format: format, median) + (unit.isEmpty ? "" : " " + unit) + " (min "
            + String(format: format, min) + ", max " + String(format: format, max) + ")"
    }

    /// JSON members `<name>` (the median, as before), `min_<name>` and `max_<name>` without a
    /// leading "median_", rounded to `digits` decimals (nil: as measured); e.g. "median_ms" gives
    /// median_ms, min_ms, max_ms.
    func members(median name: String, digits: Int? = 4) -> [(String, JSONValue)] {
        func rounded(_ value: Double) -> JSONValue {
            guard let digits else { return .number(value) }
            let scale = (0..<digits).reduce(1.0) { value, _ in value * 10 }
            return .number((value * scale).rounded() / scale)
        }
        let suffix = name.hasPrefix("median_") ? String(name.dropFirst("median_".count)) : name
        return [(name, rounded(median)), ("min_" + suffix, rounded(min)), ("max_" + suffix, rounded(max))]
    }
}
