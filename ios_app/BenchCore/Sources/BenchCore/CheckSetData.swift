// The artifact's check set, read and compared: the Swift mirror of mobilekit/artifact/checkset.py
// (layout in its docstring and README "Check sets") and of benchcore CheckSet.java. The app runs
// every clip once through the runtime under test before timing and puts `compare`'s block in the
// report's `numerics`; a check set that cannot be read becomes `Numerics.error` and the report's
// error field, never a crash and never a pass.

import Foundation

public enum CheckSetError: Error, CustomStringConvertible {
    case problem(String)

    public var description: String {
        switch self {
        case .problem(let text): return text
        }
    }
}

public struct CheckSetData {
    public let count: Int
    /// inputs[i]: clip i, flattened (C order), float32.
    public let inputs: [[Float]]
    /// expected[k][i]: output k of clip i, flattened.
    public let expected: [[[Float]]]
    /// Per output, the rows (batch size) of one clip's output: argmax is taken per row.
    public let rows: [Int]
    public let labels: [Int32]?
    public let tolerance: CheckTolerance

    /// Reads `index` (the manifest's check_set) from `folder`, each file's size and sha256 checked.
    public static func read(folder: URL, index: CheckSet?) throws -> CheckSetData {
        guard let index = index else {
            throw CheckSetError.problem("the artifact has no check set (its manifest has no check_set); re-convert it")
        }
        let n = index.count
        let inputs = split(try floats(load(folder, index.input)), n)
        var expected: [[[Float]]] = []
        var rows: [Int] = []
        for entry in index.outputs {
            expected.append(split(try floats(load(folder, entry)), n))
            rows.append(entry.shape.count > 2 ? entry.shape[1] : 1)
        }
        var labels: [Int32]? = nil
        if let entry = index.labels {
            let data = try load(folder, entry)
            labels = (0..<n).map { i in
                data.subdata(in: (i * 4)..<(i * 4 + 4)).withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) }
            }
        }
        return CheckSetData(count: n, inputs: inputs, expected: expected, rows: rows, labels: labels,
                            tolerance: index.tolerance)
    }

    static func load(_ folder: URL, _ entry: CheckTensor) throws -> Data {
        let parts = entry.file.split(separator: "/", omittingEmptySubsequences: false)
        if entry.file.hasPrefix("/") || entry.file.contains("\\") || parts.contains("..") {
            throw CheckSetError.problem("check set file \(entry.file) is outside the artifact folder")
        }
        let url = folder.appendingPathComponent(entry.file)
        guard let data = try? Data(contentsOf: url) else {
            throw CheckSetError.problem("check set file \(entry.file) is missing; copy the whole artifact folder (checkset/ included)")
        }
        if data.count != entry.bytes {
            throw CheckSetError.problem("check set file \(entry.file) is truncated or padded (\(data.count) bytes, the manifest says \(entry.bytes))")
        }
        guard let digest = SHA256Hex.of(data) else {
            throw CheckSetError.problem("no SHA-256 on this platform: the check set cannot be verified")
        }
        if digest != entry.sha256 {
            throw CheckSetError.problem("check set file \(entry.file) does not match the manifest's sha256")
        }
        return data
    }

    static func floats(_ data: Data) -> [Float] {
        let count = data.count / 4
        return data.withUnsafeBytes { raw in
            (0..<count).map { i in Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        }
    }

    static func split(_ all: [Float], _ n: Int) -> [[Float]] {
        let per = n > 0 ? all.count / n : 0
        return (0..<n).map { i in Array(all[(i * per)..<((i + 1) * per)]) }
    }

    /// Every clip once through `run` (outputs in the manifest's order, flattened), compared.
    public func check(_ run: ([Float]) throws -> [[Float]]) rethrows -> Numerics {
        var got: [[[Float]]] = []
        for clip in inputs {
            got.append(try run(clip))
        }
        return compare(got)
    }

    /// The numerics block of a check set that could not be run.
    public static func error(_ detail: String) -> Numerics {
        Numerics(status: "error", detail: detail, samples: 0, rule: nil)
    }

    /// got[i][k]: output k of clip i, flattened. Same figures as checkset.compare.
    public func compare(_ got: [[[Float]]]) -> Numerics {
        var out = Numerics(status: "disagrees", detail: nil, samples: count, rule: tolerance.rule)
        if got.count != count {
            out.detail = "\(got.count) clips of outputs for \(count) clips"
            return out
        }
        let sizesDiffer = got.contains { g in
            g.count != expected.count || zip(g, expected).contains { pair in pair.0.count != pair.1[0].count }
        }
        if sizesDiffer {
            out.detail = "output sizes differ from the expected outputs"
            return out
        }
        var clipMax = [Double](repeating: 0, count: count)
        var minCos = Double.infinity
        var sum = 0.0, values = 0, agree = 0, compared = 0
        for i in 0..<count {
            var mx = 0.0, dot = 0.0, gg = 0.0, ww = 0.0
            var gAny = false, wAny = false
            for k in 0..<expected.count {
                let g = got[i][k], w = expected[k][i]
                for j in 0..<g.count {
                    let a = Double(g[j]), b = Double(w[j])
                    let d = (a == b || (a.isNaN && b.isNaN)) ? 0.0 : abs(a - b)
                    mx = (d.isNaN || mx.isNaN) ? .nan : max(mx, d)
                    sum += d
                    values += 1
                    dot += a * b
                    gg += a * a
                    ww += b * b
                    gAny = gAny || a != 0
                    wAny = wAny || b != 0
                }
                let r = rows[k], per = w.count / r
                for row in 0..<r {
                    if Self.argmax(g, row * per, per) == Self.argmax(w, row * per, per) { agree += 1 }
                    compared += 1
                }
            }
            clipMax[i] = mx
            let norm = gg.squareRoot() * ww.squareRoot()
            var cos = norm > 0 ? dot / norm : (!gAny && !wAny ? 1.0 : 0.0)
            if cos.isFinite { cos = min(1.0, max(-1.0, cos)) }  // rounding past +-1
            minCos = (cos.isNaN || minCos.isNaN) ? .nan : min(minCos, cos)
        }
        let maxAll = clipMax.contains(where: { $0.isNaN }) ? Double.nan : (clipMax.max() ?? 0)
        let top1 = Double(agree) / Double(compared)
        out.maxAbsDiff = maxAll.isFinite ? maxAll : nil
        let mean = sum / Double(values)
        out.meanAbsDiff = mean.isFinite ? mean : nil
        out.cosine = minCos.isFinite ? minCos : nil
        out.top1Agreement = top1
        if let labels = labels {
            let per0 = expected[0][0].count / rows[0]
            var hits = 0, refHits = 0
            for i in 0..<count {
                if Self.argmax(got[i][0], 0, per0) == Int(labels[i]) { hits += 1 }
                if Self.argmax(expected[0][i], 0, per0) == Int(labels[i]) { refHits += 1 }
            }
            out.accuracy = Double(hits) / Double(count)
            out.referenceAccuracy = Double(refHits) / Double(count)
        }
        var detail: String? = nil
        if tolerance.rule == "max_abs_diff", let bounds = tolerance.maxAbsDiff {
            let over = (0..<count).filter { !(clipMax[$0].isFinite && clipMax[$0] <= bounds[$0]) }
            if let i = over.first {
                detail = String(format: "clip %d: max abs diff %.3g > tolerance %.3g", i, clipMax[i], bounds[i])
                if over.count > 1 { detail! += " (\(over.count) of \(count) clips over)" }
            }
        } else {
            let minTop1 = tolerance.minTop1Agreement ?? 1, minCosine = tolerance.minCosine ?? 1
            if top1 < minTop1 {
                detail = String(format: "top-1 agreement %.2f < %g", top1, minTop1)
            } else if !minCos.isFinite || minCos < minCosine {
                detail = String(format: "cosine %.4f < %g", minCos, minCosine)
            }
        }
        out.detail = detail
        out.status = detail == nil ? "agrees" : "disagrees"
        return out
    }

    /// Index of the first largest value (numpy's argmax).
    static func argmax(_ a: [Float], _ from: Int, _ len: Int) -> Int {
        var best = 0
        for j in 1..<max(len, 1) where a[from + j] > a[from + best] { best = j }
        return best
    }
}
