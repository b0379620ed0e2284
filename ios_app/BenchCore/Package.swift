// swift-tools-version:5.9
// BenchCore: the iOS app's benchmark logic without UIKit/SwiftUI: wire format (Codable,
// identical to the collector's golden payloads), statistics, the Core ML runner, collector
// client, offline queue. `swift test` runs on a Mac; on Linux it builds without CoreML.
import PackageDescription

let package = Package(
    name: "BenchCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "BenchCore", targets: ["BenchCore"]),
    ],
    targets: [
        .target(name: "BenchCore"),
        // Fixtures are read by path (#filePath), like the golden payloads in the repository.
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"], exclude: ["Fixtures"]),
    ]
)
