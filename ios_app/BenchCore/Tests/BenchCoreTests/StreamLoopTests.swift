// The stream loop's plumbing with runners that do real, checkable work on plain [Float]
// tensors (the JVM's StreamLoopTest does the same for the Android benchcore): a running-sum
// step whose state must come back by name, and a head that must see the window oldest first.

import Foundation
import XCTest
@testable import BenchCore

final class FloatStreamRunner: StreamRunner {
    typealias Tensor = [Float]
    var programs: [StreamProgram] = []
    var headInputs: [[Float]] = []

    var runtime: String { "coreml" }
    var runtimeVersion: String { "test" }
    func compile(_ url: URL) throws -> URL { url }
    func load(_ compiled: URL, computeUnit: ComputeUnit, input: InputSpec, data: [Float]) throws {}
    func predict() throws {}
    func unload() {}

    func loadPrograms(_ compiled: [URL], computeUnit: ComputeUnit, programs: [StreamProgram]) throws {
        self.programs = programs
    }

    func zeros(_ state: StateSpec) throws -> [Float] { [Float](repeating: 0, count: state.shape.reduce(1, *)) }

    func tensor(_ data: [Float], shape: [Int]) throws -> [Float] { data }

    func run(program index: Int, inputs: [String: [Float]]) throws -> [String: [Float]] {
        switch programs[index].role {
        case "step":  // acc_out = acc + frame, count_out = count + 1, logits = acc_out
            let sum = zip(inputs["acc"]!, inputs["video"]!).map { $0 + $1 }
            return ["logits": sum, "count_out": [inputs["count"]![0] + 1], "acc_out": sum]
        case "encoder":  // the frame's mean is its token
            let f = inputs["video"]!
            return ["tokens": [f.reduce(0, +) / Float(f.count)]]
        default:  // the head echoes what it got
            headInputs.append(inputs["tokens"]!)
            return ["logits": inputs["tokens"]!]
        }
    }

    func concatenate(_ tokens: [[Float]], shape: [Int]) throws -> [Float] { tokens.flatMap { $0 } }
}

func spec(_ name: String, _ shape: [Int]) -> TensorSpec { TensorSpec(dtype: "float32", name: name, shape: shape) }

func program(_ role: String, _ inputs: [TensorSpec], _ outputs: [TensorSpec]) -> StreamProgram {
    StreamProgram(file: "model.mlpackage", inputs: inputs, outputs: outputs, role: role,
                  sha256: String(repeating: "ab", count: 32), sizeBytes: 1)
}

final class StreamLoopTests: XCTestCase {
    func testTheStateIsFedBackByNameFromZeros() throws {
        // the outputs in another order than the state: only matching by name is right
        let step = program("step", [spec("video", [1, 3]), spec("acc", [1, 3]), spec("count", [1])],
                           [spec("logits", [1, 3]), spec("count_out", [1]), spec("acc_out", [1, 3])])
        let streaming = Streaming(mode: "state", programs: [step],
                                  state: [StateSpec(dtype: "float32", initial: "zeros", name: "acc", shape: [1, 3]),
                                          StateSpec(dtype: "float32", initial: "zeros", name: "count", shape: [1])],
                                  validation: StreamValidation(status: "passed"), window: nil)
        let runner = FloatStreamRunner()
        try runner.loadPrograms([], computeUnit: .cpuOnly, programs: streaming.programs)
        let loop = try StreamLoop(streaming, runner: runner)
        var sum: [Float] = [0, 0, 0]
        for k in 1...5 {
            let frame: [Float] = [Float(k), Float(10 * k), Float(100 * k)]
            sum = zip(sum, frame).map { $0 + $1 }
            XCTAssertEqual(try loop.push(frame), sum, "frame \(k)")
        }
        try loop.reset()
        XCTAssertEqual(try loop.push([1, 1, 1]), [1, 1, 1])
    }

    func testTheHeadSeesTheWindowOldestFirst() throws {
        let streaming = Streaming(
            mode: "frame-cache",
            programs: [program("encoder", [spec("video", [1, 1, 2])], [spec("tokens", [1, 1, 1])]),
                       program("head", [spec("tokens", [1, 3, 1])], [spec("logits", [1, 3])])],
            state: [], validation: StreamValidation(status: "passed"), window: 3)
        let runner = FloatStreamRunner()
        try runner.loadPrograms([], computeUnit: .cpuOnly, programs: streaming.programs)
        let loop = try StreamLoop(streaming, runner: runner)
        for t in 0..<6 {
            let logits = try loop.push([Float(t), Float(t)])
            if t < 2 {
                XCTAssertNil(logits)
            } else {
                XCTAssertEqual(logits, [Float(t - 2), Float(t - 1), Float(t)])
            }
        }
        XCTAssertEqual(runner.headInputs.count, 4)
    }
}
