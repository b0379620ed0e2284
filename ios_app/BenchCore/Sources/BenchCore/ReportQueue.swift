// Reports waiting for the collector: one REPORT_ID.json per report in a folder, written before
// the network is touched, removed once the collector answered 201 or 200 (duplicate). 413/422
// move to rejected/ (kept, not retried). Same rules as the Android app's ReportQueue.

import Foundation

public struct FlushResult: Sendable {
    public var sent = 0
    public var duplicates = 0
    public var rejected = 0
    public var remaining = 0
    /// Why the flush stopped early (collector unreachable, bad token), or nil.
    public var stoppedBy: String? = nil
}

public final class ReportQueue: @unchecked Sendable {
    public let dir: URL
    private let fm = FileManager.default

    public init(dir: URL) {
        self.dir = dir
    }

    public func enqueue(_ report: DeviceReport) throws {
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try Wire.encode(report).write(to: dir.appendingPathComponent(report.reportId + ".json"), options: .atomic)
    }

    /// Queued reports, oldest first.
    public func pending() -> [URL] {
        let files = (try? fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        return files.filter { $0.pathExtension == "json" }.sorted {
            let a = (try? $0.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            let b = (try? $1.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            return a == b ? $0.lastPathComponent < $1.lastPathComponent : a < b
        }
    }

    public func flush(_ client: CollectorClient) async -> FlushResult {
        var r = FlushResult()
        for file in pending() {
            guard let body = try? Data(contentsOf: file) else { continue }
            do {
                let res = try await client.post(body)
                if res.duplicate { r.duplicates += 1 } else { r.sent += 1 }
                try? fm.removeItem(at: file)
            } catch let e as CollectorError where e.isRejected {
                let rejected = dir.appendingPathComponent("rejected")
                try? fm.createDirectory(at: rejected, withIntermediateDirectories: true)
                try? fm.moveItem(at: file, to: rejected.appendingPathComponent(file.lastPathComponent))
                r.rejected += 1
            } catch {
                r.stoppedBy = "\(error)"
                break
            }
        }
        r.remaining = pending().count
        return r
    }

    /// Queue first (nothing is lost if the app dies), then flush everything queued.
    public func deliver(_ reports: [DeviceReport], via client: CollectorClient?) async throws -> FlushResult {
        for report in reports { try enqueue(report) }
        guard let client else { return FlushResult(remaining: pending().count, stoppedBy: "no server set") }
        return await flush(client)
    }
}
