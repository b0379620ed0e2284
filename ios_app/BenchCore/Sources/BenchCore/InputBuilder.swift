// The benchmark input from a manifest's InputSpec: pseudo-random pixels 0...255 scaled and
// normalised per channel (scale, mean, std along the layout's C axis). The generator is
// java.util.Random's, so the iOS and Android apps feed the same clip for the same seed.

import Foundation

public enum InputError: Error, Equatable, CustomStringConvertible {
    case badShape([Int])
    case layoutMismatch(String, Int)
    case channelMismatch(Int, Int)

    public var description: String {
        switch self {
        case .badShape(let s): return "input shape \(s) must be static and positive; re-convert the artifact"
        case .layoutMismatch(let l, let r): return "layout \(l) does not match shape rank \(r); re-convert the artifact"
        case .channelMismatch(let m, let c): return "mean/std have \(m) values but the input has \(c) channels"
        }
    }
}

/// java.util.Random (48-bit LCG), enough for nextInt(256).
struct JavaRandom {
    private var seed: UInt64
    private static let multiplier: UInt64 = 0x5DEECE66D
    private static let mask: UInt64 = (1 << 48) - 1

    init(seed: Int64) {
        self.seed = (UInt64(bitPattern: seed) ^ JavaRandom.multiplier) & JavaRandom.mask
    }

    mutating func next(_ bits: Int) -> Int32 {
        seed = (seed &* JavaRandom.multiplier &+ 0xB) & JavaRandom.mask
        return Int32(truncatingIfNeeded: Int64(bitPattern: seed) >> (48 - bits))
    }

    /// nextInt(bound) for a power-of-two bound.
    mutating func nextInt(powerOfTwo bound: Int) -> Int {
        Int((Int64(bound) * Int64(next(31))) >> 31)
    }
}

public enum InputBuilder {
    public static func build(_ spec: InputSpec, seed: Int64 = 0) throws -> [Float] {
        guard !spec.shape.isEmpty, spec.shape.allSatisfy({ $0 > 0 }) else { throw InputError.badShape(spec.shape) }
        guard spec.layout.count == spec.shape.count else {
            throw InputError.layoutMismatch(spec.layout, spec.shape.count)
        }
        let count = spec.shape.reduce(1, *)
        let axis = Array(spec.layout).firstIndex(of: "C")
        var stride = 1
        var channels = 1
        if let axis {
            stride = spec.shape[(axis + 1)...].reduce(1, *)
            channels = spec.shape[axis]
            guard spec.mean.count == channels, spec.std.count == channels else {
                throw InputError.channelMismatch(spec.mean.count, channels)
            }
        }
        var random = JavaRandom(seed: seed)
        var data = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let c = axis == nil ? 0 : (i / stride) % channels
            let pixel = Double(random.nextInt(powerOfTwo: 256)) * spec.scale
            let m = spec.mean.isEmpty ? 0 : spec.mean[Swift.min(c, spec.mean.count - 1)]
            let s = spec.std.isEmpty ? 1 : spec.std[Swift.min(c, spec.std.count - 1)]
            data[i] = Float((pixel - m) / s)
        }
        return data
    }
}
