// Statistics on known inputs; the expected values are numpy's (and the Android app's).

import XCTest
@testable import BenchCore

final class StatsTests: XCTestCase {
    func testMatchesNumpy() throws {
        let s = try LatencyStats.compute([5, 1, 4, 2, 3, 10, 6, 8, 7, 9, 100, 0.5])
        XCTAssertEqual(s.min, 0.5, accuracy: 1e-9)
        XCTAssertEqual(s.median, 5.5, accuracy: 1e-9)
        XCTAssertEqual(s.mean, 12.958333333333334, accuracy: 1e-9)
        XCTAssertEqual(s.p90, 9.9, accuracy: 1e-9)
        XCTAssertEqual(s.std, 26.41058683979253, accuracy: 1e-9)
        XCTAssertEqual(s.max ?? -1, 100, accuracy: 1e-9)
        XCTAssertEqual(s.trimmedMean ?? -1, 5.5, accuracy: 1e-9)
    }

    func testTwoValuesAndOne() throws {
        let two = try LatencyStats.compute([4, 2])
        XCTAssertEqual(two.median, 3, accuracy: 1e-12)
        XCTAssertEqual(two.p90, 3.8, accuracy: 1e-12)
        XCTAssertEqual(two.std, 1, accuracy: 1e-12)
        let one = try LatencyStats.compute([7.25])
        XCTAssertEqual(one.p90, 7.25)
        XCTAssertEqual(one.std, 0)
    }

    func testTrimsTenPercentEachEnd() throws {
        var x = (1...20).map(Double.init)
        x[19] = 1000
        XCTAssertEqual(try LatencyStats.compute(x).trimmedMean ?? -1, 10.5, accuracy: 1e-9)
    }

    func testBadInputs() {
        XCTAssertThrowsError(try LatencyStats.compute([]))
        XCTAssertThrowsError(try LatencyStats.compute([1, -1]))
    }
}
