// The wire format (mobilekit/collector/wire.py, report schema_version 3) as Codable structs.
// Keys are snake_case through explicit CodingKeys; optionals are written as JSON null, never
// left out, so an encoded report has exactly the keys of the golden payloads.
// tests/test_ios_wire.py checks every struct here against the checked-in JSON Schema.

import Foundation

/// Any JSON value, for the manifest's free-form objects (conversion, quantization.report).
public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(Double.self) { self = .double(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }
}

// MARK: - Report (phone -> collector)

public struct DeviceReport: Codable, Equatable, Sendable {
    public var schemaVersion: Int
    public var reportId: String
    public var createdAt: String
    public var device: Device
    public var app: App
    public var artifact: ArtifactRef
    public var config: RunConfig
    public var results: Results?
    public var thermal: Thermal?
    public var error: String?
    /// The artifact's check set run before timing (schema 2); nil: not checked.
    public var numerics: Numerics?
    /// A streaming artifact's run (schema 3): results then time one new frame each; nil: a clip run.
    public var streaming: StreamRun?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case reportId = "report_id"
        case createdAt = "created_at"
        case device
        case app
        case artifact
        case config
        case results
        case thermal
        case error
        case numerics
        case streaming
    }

    public init(schemaVersion: Int = 3, reportId: String, createdAt: String, device: Device, app: App,
                artifact: ArtifactRef, config: RunConfig, results: Results?, thermal: Thermal?,
                error: String?, numerics: Numerics? = nil, streaming: StreamRun? = nil) {
        self.schemaVersion = schemaVersion
        self.reportId = reportId
        self.createdAt = createdAt
        self.device = device
        self.app = app
        self.artifact = artifact
        self.config = config
        self.results = results
        self.thermal = thermal
        self.error = error
        self.numerics = numerics
        self.streaming = streaming
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(reportId, forKey: .reportId)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(device, forKey: .device)
        try c.encode(app, forKey: .app)
        try c.encode(artifact, forKey: .artifact)
        try c.encode(config, forKey: .config)
        try c.encode(results, forKey: .results)
        try c.encode(thermal, forKey: .thermal)
        try c.encode(error, forKey: .error)
        try c.encode(numerics, forKey: .numerics)
        try c.encode(streaming, forKey: .streaming)
    }
}

/// wire.py StreamRun: a streaming run's per-new-frame latency (the same figures as
/// results.latencyMs) and, when the same run timed the clip artifact beside it, the clip's.
public struct StreamRun: Codable, Equatable, Sendable {
    public var mode: String
    public var window: Int?
    public var frames: Int
    public var frameLatencyMs: Stats
    public var clipLatencyMs: Stats?
    public var clipSha256: String?

    enum CodingKeys: String, CodingKey {
        case mode
        case window
        case frames
        case frameLatencyMs = "frame_latency_ms"
        case clipLatencyMs = "clip_latency_ms"
        case clipSha256 = "clip_sha256"
    }

    public init(mode: String, window: Int?, frames: Int, frameLatencyMs: Stats,
                clipLatencyMs: Stats? = nil, clipSha256: String? = nil) {
        self.mode = mode
        self.window = window
        self.frames = frames
        self.frameLatencyMs = frameLatencyMs
        self.clipLatencyMs = clipLatencyMs
        self.clipSha256 = clipSha256
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode, forKey: .mode)
        try c.encode(window, forKey: .window)
        try c.encode(frames, forKey: .frames)
        try c.encode(frameLatencyMs, forKey: .frameLatencyMs)
        try c.encode(clipLatencyMs, forKey: .clipLatencyMs)
        try c.encode(clipSha256, forKey: .clipSha256)
    }
}

/// wire.py Numerics: the check set's figures and verdict (CheckSet.swift computes them).
public struct Numerics: Codable, Equatable, Sendable {
    public var status: String
    public var detail: String?
    public var samples: Int
    public var rule: String?
    public var maxAbsDiff: Double?
    public var meanAbsDiff: Double?
    public var cosine: Double?
    public var top1Agreement: Double?
    public var accuracy: Double?
    public var referenceAccuracy: Double?

    enum CodingKeys: String, CodingKey {
        case status
        case detail
        case samples
        case rule
        case maxAbsDiff = "max_abs_diff"
        case meanAbsDiff = "mean_abs_diff"
        case cosine
        case top1Agreement = "top1_agreement"
        case accuracy
        case referenceAccuracy = "reference_accuracy"
    }

    public init(status: String, detail: String?, samples: Int, rule: String?, maxAbsDiff: Double? = nil,
                meanAbsDiff: Double? = nil, cosine: Double? = nil, top1Agreement: Double? = nil,
                accuracy: Double? = nil, referenceAccuracy: Double? = nil) {
        self.status = status
        self.detail = detail
        self.samples = samples
        self.rule = rule
        self.maxAbsDiff = maxAbsDiff
        self.meanAbsDiff = meanAbsDiff
        self.cosine = cosine
        self.top1Agreement = top1Agreement
        self.accuracy = accuracy
        self.referenceAccuracy = referenceAccuracy
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(detail, forKey: .detail)
        try c.encode(samples, forKey: .samples)
        try c.encode(rule, forKey: .rule)
        try c.encode(maxAbsDiff, forKey: .maxAbsDiff)
        try c.encode(meanAbsDiff, forKey: .meanAbsDiff)
        try c.encode(cosine, forKey: .cosine)
        try c.encode(top1Agreement, forKey: .top1Agreement)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(referenceAccuracy, forKey: .referenceAccuracy)
    }
}

public struct Device: Codable, Equatable, Sendable {
    public var kind: String
    public var make: String
    public var model: String
    public var modelIdentifier: String?
    public var os: String
    public var osVersion: String
    public var chip: String?
    public var cpuCores: Int?
    public var ramMb: Int?

    enum CodingKeys: String, CodingKey {
        case kind
        case make
        case model
        case modelIdentifier = "model_identifier"
        case os
        case osVersion = "os_version"
        case chip
        case cpuCores = "cpu_cores"
        case ramMb = "ram_mb"
    }

    public init(kind: String = "phone", make: String, model: String, modelIdentifier: String?,
                os: String, osVersion: String, chip: String?, cpuCores: Int?, ramMb: Int?) {
        self.kind = kind
        self.make = make
        self.model = model
        self.modelIdentifier = modelIdentifier
        self.os = os
        self.osVersion = osVersion
        self.chip = chip
        self.cpuCores = cpuCores
        self.ramMb = ramMb
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(make, forKey: .make)
        try c.encode(model, forKey: .model)
        try c.encode(modelIdentifier, forKey: .modelIdentifier)
        try c.encode(os, forKey: .os)
        try c.encode(osVersion, forKey: .osVersion)
        try c.encode(chip, forKey: .chip)
        try c.encode(cpuCores, forKey: .cpuCores)
        try c.encode(ramMb, forKey: .ramMb)
    }
}

public struct App: Codable, Equatable, Sendable {
    public var name: String
    public var version: String
    public var runtime: String
    public var runtimeVersion: String

    enum CodingKeys: String, CodingKey {
        case name
        case version
        case runtime
        case runtimeVersion = "runtime_version"
    }

    public init(name: String, version: String, runtime: String, runtimeVersion: String) {
        self.name = name
        self.version = version
        self.runtime = runtime
        self.runtimeVersion = runtimeVersion
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(version, forKey: .version)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(runtimeVersion, forKey: .runtimeVersion)
    }
}

public struct ArtifactRef: Codable, Equatable, Sendable {
    public var model: String
    public var target: String
    public var sha256: String
    public var artifactId: String?
    public var precision: String?
    public var quantization: String?

    enum CodingKeys: String, CodingKey {
        case model
        case target
        case sha256
        case artifactId = "artifact_id"
        case precision
        case quantization
    }

    public init(model: String, target: String, sha256: String, artifactId: String?,
                precision: String?, quantization: String?) {
        self.model = model
        self.target = target
        self.sha256 = sha256
        self.artifactId = artifactId
        self.precision = precision
        self.quantization = quantization
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(target, forKey: .target)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(artifactId, forKey: .artifactId)
        try c.encode(precision, forKey: .precision)
        try c.encode(quantization, forKey: .quantization)
    }
}

public struct RunConfig: Codable, Equatable, Sendable {
    public var computeUnits: String
    public var threads: Int?
    public var warmup: Int
    public var iterations: Int
    public var batchSize: Int

    enum CodingKeys: String, CodingKey {
        case computeUnits = "compute_units"
        case threads
        case warmup
        case iterations
        case batchSize = "batch_size"
    }

    public init(computeUnits: String, threads: Int?, warmup: Int, iterations: Int, batchSize: Int = 1) {
        self.computeUnits = computeUnits
        self.threads = threads
        self.warmup = warmup
        self.iterations = iterations
        self.batchSize = batchSize
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(computeUnits, forKey: .computeUnits)
        try c.encode(threads, forKey: .threads)
        try c.encode(warmup, forKey: .warmup)
        try c.encode(iterations, forKey: .iterations)
        try c.encode(batchSize, forKey: .batchSize)
    }
}

public struct Stats: Codable, Equatable, Sendable {
    public var min: Double
    public var median: Double
    public var mean: Double
    public var p90: Double
    public var std: Double
    public var max: Double?
    public var trimmedMean: Double?

    enum CodingKeys: String, CodingKey {
        case min
        case median
        case mean
        case p90
        case std
        case max
        case trimmedMean = "trimmed_mean"
    }

    public init(min: Double, median: Double, mean: Double, p90: Double, std: Double,
                max: Double?, trimmedMean: Double?) {
        self.min = min
        self.median = median
        self.mean = mean
        self.p90 = p90
        self.std = std
        self.max = max
        self.trimmedMean = trimmedMean
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(min, forKey: .min)
        try c.encode(median, forKey: .median)
        try c.encode(mean, forKey: .mean)
        try c.encode(p90, forKey: .p90)
        try c.encode(std, forKey: .std)
        try c.encode(max, forKey: .max)
        try c.encode(trimmedMean, forKey: .trimmedMean)
    }
}

public struct Results: Codable, Equatable, Sendable {
    public var compileMs: Double?
    public var loadMs: Double
    public var firstInferenceMs: Double
    public var latencyMs: Stats
    public var latenciesMs: [Double]?
    public var peakMemoryMb: Double?

    enum CodingKeys: String, CodingKey {
        case compileMs = "compile_ms"
        case loadMs = "load_ms"
        case firstInferenceMs = "first_inference_ms"
        case latencyMs = "latency_ms"
        case latenciesMs = "latencies_ms"
        case peakMemoryMb = "peak_memory_mb"
    }

    public init(compileMs: Double?, loadMs: Double, firstInferenceMs: Double, latencyMs: Stats,
                latenciesMs: [Double]?, peakMemoryMb: Double?) {
        self.compileMs = compileMs
        self.loadMs = loadMs
        self.firstInferenceMs = firstInferenceMs
        self.latencyMs = latencyMs
        self.latenciesMs = latenciesMs
        self.peakMemoryMb = peakMemoryMb
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(compileMs, forKey: .compileMs)
        try c.encode(loadMs, forKey: .loadMs)
        try c.encode(firstInferenceMs, forKey: .firstInferenceMs)
        try c.encode(latencyMs, forKey: .latencyMs)
        try c.encode(latenciesMs, forKey: .latenciesMs)
        try c.encode(peakMemoryMb, forKey: .peakMemoryMb)
    }
}

public struct Thermal: Codable, Equatable, Sendable {
    public var before: String?
    public var after: String?

    enum CodingKeys: String, CodingKey {
        case before
        case after
    }

    public init(before: String?, after: String?) {
        self.before = before
        self.after = after
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(before, forKey: .before)
        try c.encode(after, forKey: .after)
    }
}

// MARK: - Manifest (converter -> app)

public struct ArtifactManifest: Codable, Equatable, Sendable {
    public var schemaVersion: Int
    public var model: String
    public var family: String?
    public var numClasses: Int
    public var classes: [String]?
    public var input: InputSpec
    public var outputs: [OutputSpec]
    public var target: String
    public var runtime: String
    public var computeUnits: String
    public var delegate: String?
    public var precision: String
    public var quantization: Quantization?
    public var file: String
    public var sizeBytes: Int
    public var sha256: String
    public var createdAt: String
    public var tools: [String: String]
    public var validation: Validation
    public var conversion: [String: JSONValue]
    public var checkSet: CheckSet?
    public var streaming: Streaming?
    public var bundled: BundledProgram?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case model
        case family
        case numClasses = "num_classes"
        case classes
        case input
        case outputs
        case target
        case runtime
        case computeUnits = "compute_units"
        case delegate
        case precision
        case quantization
        case file
        case sizeBytes = "size_bytes"
        case sha256
        case createdAt = "created_at"
        case tools
        case validation
        case conversion
        case checkSet = "check_set"
        case streaming
        case bundled
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(model, forKey: .model)
        try c.encode(family, forKey: .family)
        try c.encode(numClasses, forKey: .numClasses)
        try c.encode(classes, forKey: .classes)
        try c.encode(input, forKey: .input)
        try c.encode(outputs, forKey: .outputs)
        try c.encode(target, forKey: .target)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(computeUnits, forKey: .computeUnits)
        try c.encode(delegate, forKey: .delegate)
        try c.encode(precision, forKey: .precision)
        try c.encode(quantization, forKey: .quantization)
        try c.encode(file, forKey: .file)
        try c.encode(sizeBytes, forKey: .sizeBytes)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(tools, forKey: .tools)
        try c.encode(validation, forKey: .validation)
        try c.encode(conversion, forKey: .conversion)
        try c.encode(checkSet, forKey: .checkSet)
        try c.encode(streaming, forKey: .streaming)
        try c.encode(bundled, forKey: .bundled)
    }
}

/// The manifest's `bundled`: ExecuTorch's BundledProgram (.bpte) beside the .pte
/// (converters/backends/executorch/bundled.py). The app reads it only to show it.
public struct BundledProgram: Codable, Equatable, Sendable {
    public var file: String
    public var sizeBytes: Int
    public var sha256: String
    public var programSha256: String
    public var method: String
    public var testCases: Int
    public var rtol: Double
    public var atol: [Double]
    public var description: String
    public var verified: [String: JSONValue]

    enum CodingKeys: String, CodingKey {
        case file
        case sizeBytes = "size_bytes"
        case sha256
        case programSha256 = "program_sha256"
        case method
        case testCases = "test_cases"
        case rtol
        case atol
        case description
        case verified
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(sizeBytes, forKey: .sizeBytes)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(programSha256, forKey: .programSha256)
        try c.encode(method, forKey: .method)
        try c.encode(testCases, forKey: .testCases)
        try c.encode(rtol, forKey: .rtol)
        try c.encode(atol, forKey: .atol)
        try c.encode(description, forKey: .description)
        try c.encode(verified, forKey: .verified)
    }
}

/// The manifest's `check_set` (mobilekit/artifact/checkset.py): files, tolerance, counts.
public struct CheckSet: Codable, Equatable, Sendable {
    public var version: Int
    public var source: String
    public var count: Int
    public var precision: String
    public var reference: String
    public var tolerance: CheckTolerance
    public var input: CheckTensor
    public var outputs: [CheckTensor]
    public var labels: CheckTensor?
    public var totalBytes: Int

    enum CodingKeys: String, CodingKey {
        case version
        case source
        case count
        case precision
        case reference
        case tolerance
        case input
        case outputs
        case labels
        case totalBytes = "total_bytes"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(source, forKey: .source)
        try c.encode(count, forKey: .count)
        try c.encode(precision, forKey: .precision)
        try c.encode(reference, forKey: .reference)
        try c.encode(tolerance, forKey: .tolerance)
        try c.encode(input, forKey: .input)
        try c.encode(outputs, forKey: .outputs)
        try c.encode(labels, forKey: .labels)
        try c.encode(totalBytes, forKey: .totalBytes)
    }
}

public struct CheckTensor: Codable, Equatable, Sendable {
    public var name: String?
    public var file: String
    public var dtype: String
    public var shape: [Int]
    public var bytes: Int
    public var sha256: String

    enum CodingKeys: String, CodingKey {
        case name
        case file
        case dtype
        case shape
        case bytes
        case sha256
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(file, forKey: .file)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(shape, forKey: .shape)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(sha256, forKey: .sha256)
    }
}

public struct CheckTolerance: Codable, Equatable, Sendable {
    public var rule: String
    public var description: String
    public var base: Double?
    public var maxAbsDiff: [Double]?
    public var minTop1Agreement: Double?
    public var minCosine: Double?

    enum CodingKeys: String, CodingKey {
        case rule
        case description
        case base
        case maxAbsDiff = "max_abs_diff"
        case minTop1Agreement = "min_top1_agreement"
        case minCosine = "min_cosine"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule)
        try c.encode(description, forKey: .description)
        try c.encode(base, forKey: .base)
        try c.encode(maxAbsDiff, forKey: .maxAbsDiff)
        try c.encode(minTop1Agreement, forKey: .minTop1Agreement)
        try c.encode(minCosine, forKey: .minCosine)
    }
}

public struct InputSpec: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var layout: String
    public var dtype: String
    public var color: String
    public var scale: Double
    public var mean: [Double]
    public var std: [Double]
    public var frameSampling: String

    enum CodingKeys: String, CodingKey {
        case name
        case shape
        case layout
        case dtype
        case color
        case scale
        case mean
        case std
        case frameSampling = "frame_sampling"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
        try c.encode(layout, forKey: .layout)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(color, forKey: .color)
        try c.encode(scale, forKey: .scale)
        try c.encode(mean, forKey: .mean)
        try c.encode(std, forKey: .std)
        try c.encode(frameSampling, forKey: .frameSampling)
    }
}

public struct OutputSpec: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var kind: String

    enum CodingKeys: String, CodingKey {
        case name
        case shape
        case kind
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
        try c.encode(kind, forKey: .kind)
    }
}

public struct Validation: Codable, Equatable, Sendable {
    public var status: String
    public var reason: String?
    public var runtime: String?
    public var samples: Int?
    public var maxAbsDiff: Double?
    public var meanAbsDiff: Double?
    public var top1Agreement: Double?
    public var tolerance: Double?
    public var hostLatencyMs: Double?

    enum CodingKeys: String, CodingKey {
        case status
        case reason
        case runtime
        case samples
        case maxAbsDiff = "max_abs_diff"
        case meanAbsDiff = "mean_abs_diff"
        case top1Agreement = "top1_agreement"
        case tolerance
        case hostLatencyMs = "host_latency_ms"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(reason, forKey: .reason)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(samples, forKey: .samples)
        try c.encode(maxAbsDiff, forKey: .maxAbsDiff)
        try c.encode(meanAbsDiff, forKey: .meanAbsDiff)
        try c.encode(top1Agreement, forKey: .top1Agreement)
        try c.encode(tolerance, forKey: .tolerance)
        try c.encode(hostLatencyMs, forKey: .hostLatencyMs)
    }
}

public struct Quantization: Codable, Equatable, Sendable {
    public var scheme: String
    public var tool: String
    public var calibration: String?
    public var calibrationSamples: Int?
    public var report: [String: JSONValue]

    enum CodingKeys: String, CodingKey {
        case scheme
        case tool
        case calibration
        case calibrationSamples = "calibration_samples"
        case report
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scheme, forKey: .scheme)
        try c.encode(tool, forKey: .tool)
        try c.encode(calibration, forKey: .calibration)
        try c.encode(calibrationSamples, forKey: .calibrationSamples)
        try c.encode(report, forKey: .report)
    }
}

// MARK: - Coding helpers

public enum Wire {
    /// Compact JSON with sorted keys (stable bytes for the same report).
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }
}

// Streaming artifacts (converters/streaming.py): the manifest's `streaming`.
public struct TensorSpec: Codable, Equatable, Sendable {
    public var dtype: String
    public var name: String
    public var shape: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype
        case name
        case shape
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
    }
}

public struct StateSpec: Codable, Equatable, Sendable {
    public var dtype: String
    /// `init` on the wire, a Swift keyword: renamed by its coding key.
    public var initial: String
    public var name: String
    public var shape: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype
        case initial = "init"
        case name
        case shape
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(initial, forKey: .initial)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
    }
}

public struct StreamProgram: Codable, Equatable, Sendable {
    public var file: String
    public var inputs: [TensorSpec]
    public var outputs: [TensorSpec]
    public var role: String
    public var sha256: String
    public var sizeBytes: Int

    enum CodingKeys: String, CodingKey {
        case file
        case inputs
        case outputs
        case role
        case sha256
        case sizeBytes = "size_bytes"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(file, forKey: .file)
        try c.encode(inputs, forKey: .inputs)
        try c.encode(outputs, forKey: .outputs)
        try c.encode(role, forKey: .role)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(sizeBytes, forKey: .sizeBytes)
    }
}

public struct StreamValidation: Codable, Equatable, Sendable {
    public var compared: Int?
    public var frameLatencyMs: Double?
    public var frames: Int?
    public var maxAbsDiff: Double?
    public var reason: String?
    public var runtime: String?
    public var status: String
    public var tolerance: Double?
    public var top1Agreement: Double?

    enum CodingKeys: String, CodingKey {
        case compared
        case frameLatencyMs = "frame_latency_ms"
        case frames
        case maxAbsDiff = "max_abs_diff"
        case reason
        case runtime
        case status
        case tolerance
        case top1Agreement = "top1_agreement"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(compared, forKey: .compared)
        try c.encode(frameLatencyMs, forKey: .frameLatencyMs)
        try c.encode(frames, forKey: .frames)
        try c.encode(maxAbsDiff, forKey: .maxAbsDiff)
        try c.encode(reason, forKey: .reason)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(status, forKey: .status)
        try c.encode(tolerance, forKey: .tolerance)
        try c.encode(top1Agreement, forKey: .top1Agreement)
    }
}

public struct Streaming: Codable, Equatable, Sendable {
    public var mode: String
    public var programs: [StreamProgram]
    public var state: [StateSpec]
    public var validation: StreamValidation
    public var window: Int?

    enum CodingKeys: String, CodingKey {
        case mode
        case programs
        case state
        case validation
        case window
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode, forKey: .mode)
        try c.encode(programs, forKey: .programs)
        try c.encode(state, forKey: .state)
        try c.encode(validation, forKey: .validation)
        try c.encode(window, forKey: .window)
    }
}

