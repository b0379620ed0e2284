// The benchmark: compile once (timed), then per ticked compute unit: load (timed), one first
// prediction (timed alone: it includes lazy setup), warm-up, timed predictions. One report per
// setting; a failed setting gives a report with its error instead of results. A streaming
// artifact (manifest `streaming`) is timed one new frame at a time (StreamLoop.swift): every
// program compiled, the report's results per new frame and its `streaming` block.

import Dispatch
import Foundation

public struct BenchmarkSettings: Sendable {
    public var computeUnits: [ComputeUnit]
    public var warmup: Int
    public var iterations: Int
    /// Also send every timed latency (latencies_ms), not only the statistics.
    public var includeLatencies: Bool

    public init(computeUnits: [ComputeUnit] = [.cpuAndNeuralEngine], warmup: Int = 10,
                iterations: Int = 100, includeLatencies: Bool = true) {
        self.computeUnits = computeUnits
        self.warmup = max(0, warmup)
        self.iterations = max(1, iterations)
        self.includeLatencies = includeLatencies
    }
}

public enum ReportIdentity {
    public static let appName = "mobilekit-ios"

    /// A new idempotency key; a retry of the same run reuses it.
    public static func newReportId() -> String { "ios-" + UUID().uuidString.lowercased() }

    /// ISO 8601 UTC to the second, e.g. 2026-11-20T10:15:30Z.
    public static func timestamp(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

public enum Benchmark {
    @inline(__always)
    static func nowMs() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

    /// One compute-unit setting: load, first prediction, warm-up, timed predictions.
    public static func measure(_ runner: ModelRunner, compiled: URL, unit: ComputeUnit,
                               manifest: ArtifactManifest, input: [Float], warmup: Int, iterations: Int,
                               compileMs: Double?, includeLatencies: Bool,
                               memoryMb: (() -> Double?)? = nil,
                               checkSet: CheckSetData? = nil, checkSetError: String? = nil,
                               onChecked: ((Numerics) -> Void)? = nil) throws -> Results {
        var peak: Double? = nil
        func sample() {
            if let m = memoryMb?() { peak = Swift.max(peak ?? 0, m) }
        }
        let t0 = nowMs()
        try runner.load(compiled, computeUnit: unit, input: manifest.input, data: input)
        let loadMs = nowMs() - t0
        sample()
        let t1 = nowMs()
        try runner.predict()
        let firstMs = nowMs() - t1
        if let checking = runner as? CheckingRunner {  // the check set, before timing
            let names = manifest.outputs.map { $0.name }
            if let checkSet {
                do {
                    onChecked?(try checkSet.check { try checking.outputs(for: $0, outputNames: names) })
                } catch {
                    onChecked?(CheckSetData.error("the runtime failed on a check-set clip: \(error)"))
                }
            } else {
                onChecked?(CheckSetData.error(checkSetError ?? "no check set was given"))
            }
        }
        for _ in 0..<warmup { try runner.predict() }
        var latencies = [Double]()
        latencies.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let start = nowMs()
            try runner.predict()
            latencies.append(nowMs() - start)
        }
        sample()
        runner.unload()
        return Results(compileMs: compileMs, loadMs: loadMs, firstInferenceMs: firstMs,
                       latencyMs: try LatencyStats.compute(latencies),
                       latenciesMs: includeLatencies ? latencies : nil, peakMemoryMb: peak)
    }

    /// Every ticked setting of one artifact; always one report per setting.
    public static func run(_ runner: ModelRunner, model url: URL, manifest: ArtifactManifest,
                           artifactId: String?, settings: BenchmarkSettings, device: Device,
                           appVersion: String, thermal: () -> String?,
                           memoryMb: (() -> Double?)? = nil,
                           progress: ((ComputeUnit, String) -> Void)? = nil) -> [DeviceReport] {
        var compiled: URL? = nil
        var compileMs: Double? = nil
        var setupError: String? = nil
        var input: [Float] = []
        var programs: [URL] = []
        do {
            input = try InputBuilder.build(manifest.input)  // a stream's: one frame
            let t0 = nowMs()
            compiled = try runner.compile(url)
            if let spec = manifest.streaming, let first = compiled {  // the step, or the encoder and the head
                programs = [first]
                for p in spec.programs.dropFirst() {
                    programs.append(try runner.compile(url.deletingLastPathComponent().appendingPathComponent(p.file)))
                }
            }
            if runner is CompilingRunner { compileMs = nowMs() - t0 }
        } catch {
            setupError = "compile failed: \(error)"
        }
        var checkSet: CheckSetData? = nil
        var checkSetError: String? = nil
        if runner is CheckingRunner && manifest.streaming == nil {  // a stream has no check set
            do {
                checkSet = try CheckSetData.read(folder: url.deletingLastPathComponent(), index: manifest.checkSet)
            } catch {
                checkSetError = "\(error)"
            }
        }
        var reports: [DeviceReport] = []
        for unit in settings.computeUnits {
            var numerics: Numerics? = nil
            var streamRun: StreamRun? = nil
            progress?(unit, "running")
            let before = thermal()
            var results: Results? = nil
            var failure = setupError
            if manifest.streaming != nil, failure == nil {
                do {
                    guard let streamer = runner as? any StreamRunner else {
                        throw StreamError.output("the \(runner.runtime) runner does not run streaming artifacts")
                    }
                    // `any StreamRunner` opened into the generic call (SE-0352)
                    let measured = try measureStream(
                        streamer, compiled: programs, unit: unit, manifest: manifest, frame: input,
                        warmup: settings.warmup, iterations: settings.iterations, compileMs: compileMs,
                        includeLatencies: settings.includeLatencies && settings.iterations <= 20_000,
                        memoryMb: memoryMb)
                    results = measured.0
                    streamRun = measured.1
                } catch {
                    runner.unload()
                    failure = "inference failed: \(error)"
                }
            } else if let compiled, failure == nil {
                do {
                    results = try measure(runner, compiled: compiled, unit: unit, manifest: manifest,
                                          input: input, warmup: settings.warmup,
                                          iterations: settings.iterations, compileMs: compileMs,
                                          // the collector refuses bodies over 1 MiB: beyond
                                          // ~20k latencies, send the statistics only
                                          includeLatencies: settings.includeLatencies && settings.iterations <= 20_000,
                                          memoryMb: memoryMb, checkSet: checkSet,
                                          checkSetError: checkSetError, onChecked: { numerics = $0 })
                } catch {
                    runner.unload()
                    failure = "inference failed: \(error)"
                }
            }
            let after = thermal()
            let artifact = ArtifactRef(model: manifest.model, target: unit.target(artifactTarget: manifest.target),
                                       sha256: manifest.sha256, artifactId: artifactId,
                                       precision: manifest.precision, quantization: manifest.quantization?.scheme)
            reports.append(DeviceReport(
                reportId: ReportIdentity.newReportId(), createdAt: ReportIdentity.timestamp(),
                device: device,
                app: App(name: ReportIdentity.appName, version: appVersion, runtime: runner.runtime,
                         runtimeVersion: runner.runtimeVersion),
                artifact: artifact,
                config: RunConfig(computeUnits: unit.rawValue, threads: nil, warmup: settings.warmup,
                                  iterations: settings.iterations),
                results: failure == nil ? results : nil,
                thermal: (before == nil && after == nil) ? nil : Thermal(before: before, after: after),
                // a check set that could not be run: reported beside the results, never a pass
                error: failure ?? (numerics?.status == "error" ? "check set: \(numerics?.detail ?? "")" : nil),
                numerics: failure == nil ? numerics : nil,
                streaming: failure == nil ? streamRun : nil))
            progress?(unit, failure ?? "done")
        }
        return reports
    }
}
