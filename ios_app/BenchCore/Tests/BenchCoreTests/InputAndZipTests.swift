import Foundation
import XCTest
@testable import BenchCore

final class InputAndZipTests: XCTestCase {
    func testSameGeneratorAsTheAndroidApp() {
        // java.util.Random(0).nextInt(256), eight times (printed by a JVM).
        var r = JavaRandom(seed: 0)
        var drawn: [Int] = []
        for _ in 0..<8 { drawn.append(r.nextInt(powerOfTwo: 256)) }
        XCTAssertEqual(drawn, [187, 212, 61, 155, 163, 79, 140, 29])
    }

    func testInputIsNormalisedPerChannel() throws {
        let spec = InputSpec(name: "video", shape: [1, 2, 3, 4, 4], layout: "BTCHW", dtype: "float32",
                             color: "RGB", scale: 1.0 / 255, mean: [0.485, 0.456, 0.406],
                             std: [0.229, 0.224, 0.225], frameSampling: "tsn")
        let data = try InputBuilder.build(spec)
        XCTAssertEqual(data.count, 96)
        // first element: pixel 187 in channel 0
        XCTAssertEqual(Double(data[0]), (187.0 / 255 - 0.485) / 0.229, accuracy: 1e-5)
        for (i, v) in data.enumerated() {
            let c = (i / 16) % 3
            let pixel = (Double(v) * spec.std[c] + spec.mean[c]) * 255
            XCTAssertEqual(pixel, pixel.rounded(), accuracy: 1e-3)
        }
    }

    func testUnzipsACollectorZip() throws {
        // Made by mobilekit/collector/artifacts.py zip_directory (deflated entries).
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tiny.mlpackage.zip")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try ZipExtractor.extract(try Data(contentsOf: fixture), into: dir)
        let model = try Data(contentsOf: dir.appendingPathComponent("tiny.mlpackage/Data/com.apple.CoreML/model.mlmodel"))
        XCTAssertEqual(model, Data(String(repeating: "mobilekit ", count: 200).utf8))
        let manifest = try String(contentsOf: dir.appendingPathComponent("tiny.mlpackage/Manifest.json"), encoding: .utf8)
        XCTAssertEqual(manifest, "{\"fileFormatVersion\": \"1.0.0\"}\n")
    }
}
