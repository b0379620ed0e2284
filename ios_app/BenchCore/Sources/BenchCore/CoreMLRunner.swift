// Core ML: compile the .mlpackage on the device, load it per compute-unit setting, predict on
// an MLMultiArray built once from the manifest's input. Only where CoreML exists (iOS, macOS);
// BenchCore still builds on Linux without it.

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
        let config = MLModelConfiguration()
        switch computeUnit {
        case .cpuOnly: config.computeUnits = .cpuOnly
        case .cpuAndGPU: config.computeUnits = .cpuAndGPU
        case .cpuAndNeuralEngine: config.computeUnits = .cpuAndNeuralEngine
        case .all: config.computeUnits = .all
        }
        let model = try MLModel(contentsOf: compiled, configuration: config)
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
    }
}
#endif
