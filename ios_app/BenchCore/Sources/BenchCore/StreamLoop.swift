// Streaming artifacts (`mobilekit convert --streaming`, the manifest's `streaming`) run one frame
// at a time, as converters/streaming.py's Stream and the Android benchcore's StreamLoop do:
//  - state: the step takes (frame, *state) and gives (logits, *state_out); every state input
//    starts as zeros and is fed the output named "<name>_out" of the step before (by name);
//  - frame-cache: the encoder turns each frame into its tokens, kept in a ring of `window`
//    slots; once full, the head runs over them oldest first, concatenated along axis 1.
// The runner keeps its own tensor type (Core ML: MLMultiArray, fed back without copying).

import Foundation

public enum StreamError: Error, CustomStringConvertible {
    case manifest(String)
    case output(String)

    public var description: String {
        switch self {
        case .manifest(let m): return "\(m); re-convert the artifact with `mobilekit convert --streaming`"
        case .output(let m): return m
        }
    }
}

/// A runtime that runs a streaming artifact's programs, several named inputs and outputs each.
public protocol StreamRunner: ModelRunner {
    associatedtype Tensor
    /// Loads every compiled program (the step, or the encoder and the head) for one setting.
    func loadPrograms(_ compiled: [URL], computeUnit: ComputeUnit, programs: [StreamProgram]) throws
    /// A state tensor's first value: zeros of its shape.
    func zeros(_ state: StateSpec) throws -> Tensor
    /// A frame (float32, C order) as the program's input.
    func tensor(_ data: [Float], shape: [Int]) throws -> Tensor
    /// One call of program `index`: inputs and outputs by the manifest's names.
    func run(program index: Int, inputs: [String: Tensor]) throws -> [String: Tensor]
    /// The head's input: `tokens` (each (B, 1, ...), oldest first) concatenated along axis 1.
    func concatenate(_ tokens: [Tensor], shape: [Int]) throws -> Tensor
}

public final class StreamLoop<R: StreamRunner> {
    public let spec: Streaming
    private let runner: R
    private var state: [String: R.Tensor] = [:]
    private var ring: [R.Tensor] = []
    public private(set) var frames = 0

    /// Checks the manifest's block the way the Java benchcore does; nothing runs yet.
    public init(_ spec: Streaming, runner: R) throws {
        self.spec = spec
        self.runner = runner
        switch spec.mode {
        case "state":
            guard spec.programs.count == 1, let step = spec.programs.first, step.role == "step" else {
                throw StreamError.manifest("a state stream has one program, the step")
            }
            guard step.inputs.count == 1 + spec.state.count else {
                throw StreamError.manifest("the step takes \(step.inputs.count) inputs, not the frame and \(spec.state.count) state tensors")
            }
            for (i, s) in spec.state.enumerated() {
                guard step.inputs[i + 1].name == s.name,
                      step.outputs.contains(where: { $0.name == s.name + "_out" && $0.shape == s.shape }) else {
                    throw StreamError.manifest("the step returns no \(s.name)_out of shape \(s.shape) to feed back")
                }
            }
        case "frame-cache":
            guard spec.programs.count == 2, spec.programs[0].role == "encoder", spec.programs[1].role == "head",
                  let window = spec.window, window >= 1 else {
                throw StreamError.manifest("a frame-cache stream has two programs, encoder then head, and a window")
            }
        default:
            throw StreamError.manifest("streaming mode \(spec.mode) is not state or frame-cache")
        }
        try reset()
    }

    /// A fresh stream: zeros for every state, an empty ring buffer.
    public func reset() throws {
        state = [:]
        for s in spec.state { state[s.name] = try runner.zeros(s) }
        ring = []
        frames = 0
    }

    /// One new frame: its logits, or nil while the frame cache fills.
    public func push(_ frame: R.Tensor) throws -> R.Tensor? {
        frames += 1
        let first = spec.programs[0]
        if spec.mode == "state" {
            var inputs = state
            inputs[first.inputs[0].name] = frame
            let out = try runner.run(program: 0, inputs: inputs)
            for s in spec.state {
                guard let next = out[s.name + "_out"] else { throw StreamError.output("the step gave no \(s.name)_out") }
                state[s.name] = next
            }
            let stateOuts = Set(spec.state.map { $0.name + "_out" })
            guard let logits = first.outputs.first(where: { !stateOuts.contains($0.name) }),
                  let value = out[logits.name] else { throw StreamError.output("the step gave no logits") }
            return value
        }
        let out = try runner.run(program: 0, inputs: [first.inputs[0].name: frame])
        guard let tokens = out[first.outputs[0].name] else { throw StreamError.output("the encoder gave no tokens") }
        ring.append(tokens)
        let window = spec.window ?? 1
        if ring.count > window { ring.removeFirst() }  // the oldest leaves; a window is small
        guard ring.count == window else { return nil }
        let head = spec.programs[1]
        let input = try runner.concatenate(ring, shape: head.inputs[0].shape)
        let logits = try runner.run(program: 1, inputs: [head.inputs[0].name: input])
        guard let value = logits[head.outputs[0].name] else { throw StreamError.output("the head gave no logits") }
        return value
    }
}

extension Benchmark {
    /// A streaming artifact for one compute-unit setting: load every program (timed), the first
    /// frame (timed apart), warm-up frames (at least window - 1, so every timed frame runs the
    /// head over a full ring), timed frames. Returns the results (per new frame) and the
    /// report's `streaming` block.
    public static func measureStream<R: StreamRunner>(_ runner: R, compiled: [URL], unit: ComputeUnit,
                                                      manifest: ArtifactManifest, frame: [Float], warmup: Int,
                                                      iterations: Int, compileMs: Double?, includeLatencies: Bool,
                                                      memoryMb: (() -> Double?)? = nil) throws -> (Results, StreamRun) {
        guard let spec = manifest.streaming else { throw StreamError.manifest("the manifest has no streaming block") }
        var peak: Double? = nil
        func sample() {
            if let m = memoryMb?() { peak = Swift.max(peak ?? 0, m) }
        }
        let t0 = nowMs()
        try runner.loadPrograms(compiled, computeUnit: unit, programs: spec.programs)
        let loop = try StreamLoop(spec, runner: runner)
        let loadMs = nowMs() - t0
        sample()
        let input = try runner.tensor(frame, shape: manifest.input.shape)
        let t1 = nowMs()
        _ = try loop.push(input)
        let firstMs = nowMs() - t1
        for _ in 0..<Swift.max(warmup, (spec.window ?? 1) - 1) { _ = try loop.push(input) }
        var latencies = [Double]()
        latencies.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let start = nowMs()
            let logits = try loop.push(input)
            latencies.append(nowMs() - start)
            if logits == nil { throw StreamError.output("the stream gave no logits on a full ring buffer") }
        }
        sample()
        runner.unload()
        let stats = try LatencyStats.compute(latencies)
        let results = Results(compileMs: compileMs, loadMs: loadMs, firstInferenceMs: firstMs, latencyMs: stats,
                              latenciesMs: includeLatencies ? latencies : nil, peakMemoryMb: peak)
        return (results, StreamRun(mode: spec.mode, window: spec.window, frames: loop.frames, frameLatencyMs: stats))
    }
}
