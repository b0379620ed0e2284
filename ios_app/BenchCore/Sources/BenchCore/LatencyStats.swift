// Latency statistics with numpy's / scipy's definitions, identical to the Android app's
// benchcore LatencyStats: median and p90 by linear interpolation (numpy.percentile), population
// std (ddof=0), trimmed mean as scipy.stats.trim_mean(x, 0.1) (floor(n/10) cut from each end).

import Foundation

public enum StatsError: Error, Equatable {
    case empty
    case invalid(Double)
}

public enum LatencyStats {
    public static func compute(_ values: [Double]) throws -> Stats {
        guard !values.isEmpty else { throw StatsError.empty }
        if let bad = values.first(where: { $0.isNaN || $0 < 0 }) { throw StatsError.invalid(bad) }
        let x = values.sorted()
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let cut = Int((0.1 * n).rounded(.down))
        let kept = x[cut..<(x.count - cut)]
        return Stats(min: x[0], median: percentile(x, 50), mean: mean, p90: percentile(x, 90),
                     std: variance.squareRoot(), max: x[x.count - 1],
                     trimmedMean: kept.reduce(0, +) / Double(kept.count))
    }

    /// numpy.percentile(sorted, q), linear method; `sorted` must be sorted ascending.
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let rank = q / 100 * Double(sorted.count - 1)
        let lo = Int(rank.rounded(.down))
        let hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - Double(lo))
    }
}
