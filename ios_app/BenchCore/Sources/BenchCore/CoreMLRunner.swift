// Core ML: compile the .mlpackage on the device, load it per compute-unit setting, predict on
// an MLMultiArray built once from the manifest's input. Only where CoreML exists (iOS, macOS);
// BenchCore still builds on Linux without it. Streaming artifacts (StreamLoop.swift) run with
// MLMultiArray tensors: each state output goes back in as the next step's input as it is.

#if canImport(CoreML)
import CoreML
import Foundation

public enum CoreMLRunnerError: Error, CustomStringConvertible {
    case noInput(String)
    case dtype(String)

    public var description: String {
        switch self {
        case .noInput(let n): return "the model has no input named \(n); re-convert the artifact"
        case .dtype(let d): return "input dtype \(d) is not supported by this app; convert with float32 or float16 input"
        }
    }
}

public final class CoreMLRunner: CompilingRunner, CheckingRunner {
    private var model: MLModel?
    private var features: MLFeatureProvider?
    private var inputSpec: InputSpec?
    private var inputType: MLMultiArrayDataType = .float32
    private var programs: [MLModel] = []

    public init() {}

    public var runtime: String { "coreml" }

    public var runtimeVersion: String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        #if os(iOS)
        return "iOS \(v.majorVersion).\(v.minorVersion)"
        #else
        return "macOS \(v.majorVersion).\(v.minorVersion)"
        #endif
    }

    public func compile(_ url: URL) throws -> URL {
        // Synchronous API: the benchmark runs off the main thread anyway.
        try MLModel.compileModel(at: url)
    }

    public func load(_ compiled: URL, computeUnit: ComputeUnit, input: InputSpec, data: [Float]) throws {
        let model = try MLModel(contentsOf: compiled, configuration: Self.configuration(computeUnit))
        guard model.modelDescription.inputDescriptionsByName[input.name] != nil else {
            throw CoreMLRunnerError.noInput(input.name)
        }
        let type: MLMultiArrayDataType
        switch input.dtype {
        case "float32": type = .float32
        case "float16": type = .float16
        default: throw CoreMLRunnerError.dtype(input.dtype)
        }
        let array = try MLMultiArray(shape: input.shape.map { NSNumber(value: $0) }, dataType: type)
        for (i, v) in data.enumerated() {
            array[i] = NSNumber(value: v)
        }
        features = try MLDictionaryFeatureProvider(dictionary: [input.name: MLFeatureValue(multiArray: array)])
        self.model = model
        inputSpec = input
        inputType = type
    }

    /// One check-set clip through the loaded model; outputs by the manifest's names, as Float.
    public func outputs(for clip: [Float], outputNames: [String]) throws -> [[Float]] {
        guard let model, let input = inputSpec else { return [] }
        let array = try MLMultiArray(shape: input.shape.map { NSNumber(value: $0) }, dataType: inputType)
        for (i, v) in clip.enumerated() {
            array[i] = NSNumber(value: v)
        }
        let provider = try MLDictionaryFeatureProvider(dictionary: [input.name: MLFeatureValue(multiArray: array)])
        let result = try model.prediction(from: provider)
        return outputNames.map { name in
            guard let out = result.featureValue(for: name)?.multiArrayValue else { return [] }
            return (0..<out.count).map { out[$0].floatValue }
        }
    }

    public func predict() throws {
        guard let model, let features else { return }
        _ = try model.prediction(from: features)
    }

    public func unload() {
        model = nil
        features = nil
        programs = []
    }

    static func configuration(_ unit: ComputeUnit) -> MLModelConfiguration {
        let config = MLModelConfiguration()
        switch unit {
        case .cpuOnly: config.computeUnits = .cpuOnly
        case .cpuAndGPU: config.computeUnits = .cpuAndGPU
        case .cpuAndNeuralEngine: config.computeUnits = .cpuAndNeuralEngine
        case .all: config.computeUnits = .all
        }
        return config
    }
}

extension CoreMLRunner: StreamRunner {
    public typealias Tensor = MLMultiArray

    public func loadPrograms(_ compiled: [URL], computeUnit: ComputeUnit, programs specs: [StreamProgram]) throws {
        let config = Self.configuration(computeUnit)
        programs = try compiled.map { try MLModel(contentsOf: $0, configuration: config) }
        for (model, spec) in zip(programs, specs) {
            for input in spec.inputs where model.modelDescription.inputDescriptionsByName[input.name] == nil {
                throw CoreMLRunnerError.noInput(input.name)
            }
        }
    }

    public func zeros(_ state: StateSpec) throws -> MLMultiArray {
        let a = try MLMultiArray(shape: state.shape.map { NSNumber(value: $0) }, dataType: .float32)
        a.withUnsafeMutableBytes { raw, _ in _ = raw.initializeMemory(as: UInt8.self, repeating: 0) }
        return a
    }

    public func tensor(_ data: [Float], shape: [Int]) throws -> MLMultiArray {
        let a = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .float32)
        a.withUnsafeMutableBufferPointer(ofType: Float.self) { ptr, _ in
            for i in 0..<Swift.min(ptr.count, data.count) { ptr[i] = data[i] }
        }
        return a
    }

    /// Inputs and outputs by name. A state output (fp16 on the GPU or the ANE too) goes back in
    /// as it came out: Core ML converts a multiarray to the input's declared type.
    public func run(program index: Int, inputs: [String: MLMultiArray]) throws -> [String: MLMultiArray] {
        let provider = try MLDictionaryFeatureProvider(
            dictionary: inputs.mapValues { MLFeatureValue(multiArray: $0) as Any })
        let result = try programs[index].prediction(from: provider)
        var out: [String: MLMultiArray] = [:]
        for name in result.featureNames {
            if let a = result.featureValue(for: name)?.multiArrayValue { out[name] = a }
        }
        return out
    }

    public func concatenate(_ tokens: [MLMultiArray], shape: [Int]) throws -> MLMultiArray {
        let head = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .float32)
        let batch = shape[0], window = tokens.count
        let frames = tokens.map(Self.floats)
        let block = (frames.first?.count ?? 0) / Swift.max(batch, 1)  // one frame's tokens, one batch row
        head.withUnsafeMutableBufferPointer(ofType: Float.self) { ptr, _ in
            for (k, f) in frames.enumerated() {  // oldest first
                for b in 0..<batch {
                    for j in 0..<block { ptr[(b * window + k) * block + j] = f[b * block + j] }
                }
            }
        }
        return head
    }

    /// A multiarray's values in C order: a direct copy for contiguous float32 (what Core ML
    /// gives on the CPU), element by element otherwise (fp16, or the ANE's padded strides).
    static func floats(_ a: MLMultiArray) -> [Float] {
        var expected = 1
        var contiguous = a.dataType == .float32
        for (dim, stride) in zip(a.shape, a.strides).reversed() {
            contiguous = contiguous && stride.intValue == expected
            expected *= dim.intValue
        }
        if contiguous {
            return a.withUnsafeBufferPointer(ofType: Float.self) { Array($0.prefix(a.count)) }
        }
        return (0..<a.count).map { a[$0].floatValue }
    }
}
#endif
