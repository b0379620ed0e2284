// What the benchmark loop needs from a runtime. Core ML implements it (CoreMLRunner); an
// ExecuTorch runner for .pte can implement it too (README: optional ExecuTorch runner).

import Foundation

/// Core ML compute units as the report names them (wire.py RunConfig.compute_units).
public enum ComputeUnit: String, CaseIterable, Codable, Sendable {
    case cpuOnly
    case cpuAndGPU
    case cpuAndNeuralEngine
    case all

    /// The artifact target a report for this setting belongs to (ane / coreml-gpu / coreml-cpu).
    /// `.all` lets Core ML choose; it is reported under the artifact's own target.
    public func target(artifactTarget: String) -> String {
        switch self {
        case .cpuOnly: return "coreml-cpu"
        case .cpuAndGPU: return "coreml-gpu"
        case .cpuAndNeuralEngine: return "ane"
        case .all: return artifactTarget
        }
    }
}

public protocol ModelRunner: AnyObject {
    /// Wire name of the runtime: "coreml", "executorch".
    var runtime: String { get }
    var runtimeVersion: String { get }
    /// On-device compilation (Core ML: .mlpackage -> .mlmodelc); returns what load() takes.
    /// Runtimes without a compile step return `url` unchanged.
    func compile(_ url: URL) throws -> URL
    /// Loads for one compute-unit setting and prepares the input, so predict() is inference only.
    func load(_ compiled: URL, computeUnit: ComputeUnit, input: InputSpec, data: [Float]) throws
    func predict() throws
    func unload()
}

/// Whether a runtime has a separate compile step (its compile_ms is then reported).
public protocol CompilingRunner: ModelRunner {}

/// A runner that can also run a given clip and return its outputs: the benchmark then runs the
/// artifact's check set (CheckSetData) after the first prediction and before timing, and the
/// report carries `numerics`. Outputs in the manifest's order, each flattened (C order).
public protocol CheckingRunner: ModelRunner {
    func outputs(for clip: [Float], outputNames: [String]) throws -> [[Float]]
}
