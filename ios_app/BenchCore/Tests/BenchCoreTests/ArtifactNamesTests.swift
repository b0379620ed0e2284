// The shared naming cases (mobilekit/collector/schemas/artifact_names.json) against
// ArtifactNames: the same list the collector and the Android reader are tested on.

import Foundation
import XCTest
@testable import BenchCore

final class ArtifactNamesTests: XCTestCase {
    func testTheSharedNamingCases() throws {
        let url = goldenDir.deletingLastPathComponent().appendingPathComponent("artifact_names.json")
        let names = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        for good in try XCTUnwrap(names["good_files"] as? [String]) {
            XCTAssertNoThrow(try ArtifactNames.checkFile(good), good)
        }
        for bad in try XCTUnwrap(names["bad_files"] as? [String]) {
            XCTAssertThrowsError(try ArtifactNames.checkFile(bad), bad)
        }
        for good in try XCTUnwrap(names["good_models"] as? [String]) {
            XCTAssertNoThrow(try ArtifactNames.checkModel(good), good)
        }
        for bad in try XCTUnwrap(names["bad_models"] as? [String]) {
            XCTAssertThrowsError(try ArtifactNames.checkModel(bad), bad)
        }
        XCTAssertThrowsError(try ArtifactNames.checkModel(String(repeating: "a", count: 101)))
    }
}
