// Every golden payload the collector checks in (mobilekit/collector/schemas/golden) decodes
// into the Codable structs and re-encodes to the same JSON: same keys, nulls and values.

import Foundation
import XCTest
@testable import BenchCore

/// The repository root, from this file's path (ios_app/BenchCore/Tests/BenchCoreTests/).
let repoRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<5 { url.deleteLastPathComponent() }
    return url
}()

let goldenDir = repoRoot.appendingPathComponent("mobilekit/collector/schemas/golden")

func goldenFiles() throws -> [URL] {
    try FileManager.default.contentsOfDirectory(at: goldenDir, includingPropertiesForKeys: nil)
        .filter { $0.pathExtension == "json" }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
}

func jsonObject(_ data: Data) throws -> NSDictionary {
    try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? NSDictionary)
}

final class GoldenTests: XCTestCase {
    func testEveryGoldenPayloadRoundTrips() throws {
        let files = try goldenFiles()
        XCTAssertEqual(files.count, 5, "golden payloads moved? \(goldenDir.path)")
        for file in files {
            let data = try Data(contentsOf: file)
            let reencoded: Data
            if file.lastPathComponent.hasPrefix("manifest") {
                reencoded = try Wire.encode(try Wire.decode(ArtifactManifest.self, from: data))
            } else {
                reencoded = try Wire.encode(try Wire.decode(DeviceReport.self, from: data))
            }
            XCTAssertEqual(try jsonObject(reencoded), try jsonObject(data), file.lastPathComponent)
        }
    }

    func testGoldenValuesLandInTheRightFields() throws {
        let ios = try Wire.decode(DeviceReport.self,
                                  from: Data(contentsOf: goldenDir.appendingPathComponent("report_ios_ane.json")))
        XCTAssertEqual(ios.device.modelIdentifier, "iPhone16,1")
        XCTAssertEqual(ios.config.computeUnits, "cpuAndNeuralEngine")
        XCTAssertNil(ios.config.threads)
        XCTAssertEqual(ios.results?.compileMs, 812.5)
        XCTAssertEqual(ios.results?.latencyMs.trimmedMean, 4.15)
        XCTAssertEqual(ios.thermal?.after, "fair")

        let failed = try Wire.decode(DeviceReport.self,
                                     from: Data(contentsOf: goldenDir.appendingPathComponent("report_failed.json")))
        XCTAssertNil(failed.results)
        XCTAssertNil(failed.thermal)
        XCTAssertEqual(failed.error, "load failed: Error 0x20 (NotSupported) loading method forward")

        let manifest = try Wire.decode(ArtifactManifest.self,
                                       from: Data(contentsOf: goldenDir.appendingPathComponent("manifest_xnnpack.json")))
        XCTAssertEqual(manifest.input.shape, [1, 16, 3, 224, 224])
        XCTAssertEqual(manifest.conversion["rewrites"], .array([.string("decompose_layer_norms")]))
        XCTAssertEqual(manifest.tools["executorch"], "1.5.1")
    }

    func testABuiltReportHasTheGoldenKeys() throws {
        let golden = try jsonObject(Data(contentsOf: goldenDir.appendingPathComponent("report_ios_ane.json")))
        let stats = try LatencyStats.compute([4.12, 3.91, 4.55, 5.02, 4.2])
        let report = DeviceReport(
            reportId: ReportIdentity.newReportId(), createdAt: ReportIdentity.timestamp(),
            device: Device(make: "Apple", model: "iPhone 15 Pro", modelIdentifier: "iPhone16,1", os: "iOS",
                           osVersion: "18.1", chip: "A17 Pro", cpuCores: 6, ramMb: 8192),
            app: App(name: "mobilekit-ios", version: "0.1.0", runtime: "coreml", runtimeVersion: "iOS 18.1"),
            artifact: ArtifactRef(model: "vlf_b0", target: "ane", sha256: String(repeating: "3f", count: 32),
                                  artifactId: nil, precision: "fp16", quantization: nil),
            config: RunConfig(computeUnits: "cpuAndNeuralEngine", threads: nil, warmup: 10, iterations: 5),
            results: Results(compileMs: 800, loadMs: 140, firstInferenceMs: 18, latencyMs: stats,
                             latenciesMs: [4.12, 3.91, 4.55, 5.02, 4.2], peakMemoryMb: nil),
            thermal: Thermal(before: "nominal", after: nil), error: nil)
        let ours = try jsonObject(Wire.encode(report))
        XCTAssertEqual(Set(ours.allKeys as! [String]), Set(golden.allKeys as! [String]))
        for key in ["device", "app", "artifact", "config", "results", "thermal"] {
            let a = try XCTUnwrap(ours[key] as? NSDictionary)
            let b = try XCTUnwrap(golden[key] as? NSDictionary)
            XCTAssertEqual(Set(a.allKeys as! [String]), Set(b.allKeys as! [String]), key)
        }
        XCTAssertTrue(report.reportId.hasPrefix("ios-"))
        XCTAssertTrue(report.createdAt.hasSuffix("Z"))
    }
}
