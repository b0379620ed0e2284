// The collector's HTTP API (`mobilekit collect`), the same contract as the Android client:
// token on every request, artifact list / manifest / file (sha256-checked), report POST
// retried with the same body (same report_id: stored once), 401/413/422 not retried.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(CryptoKit)
import CryptoKit
#endif

public struct CollectorError: Error, CustomStringConvertible {
    /// HTTP status, or 0 when no answer came (network down, timeout).
    public let status: Int
    public let message: String

    public var isTransient: Bool { status == 0 || status >= 500 || status == 408 || status == 429 }
    /// The collector will never take this payload: keep it aside, do not retry.
    public var isRejected: Bool { status == 413 || status == 422 }
    public var description: String { message }
}

public struct ArtifactEntry: Decodable, Identifiable, Sendable {
    public let id: String
    public let model: String
    public let target: String
    public let precision: String?
    public let sha256: String
    public let fileName: String
    public let fileSha256: String
    public let sizeBytes: Int

    enum CodingKeys: String, CodingKey {
        case id, model, target, precision, sha256
        case fileName = "file_name"
        case fileSha256 = "file_sha256"
        case sizeBytes = "size_bytes"
    }
}

public struct PostResult: Sendable {
    public let id: String?
    public let duplicate: Bool
    public let status: Int
    public let attempts: Int
}

public enum SHA256Hex {
    public static func of(_ data: Data) -> String? {
        #if canImport(CryptoKit)
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        #else
        return nil  // no CryptoKit (Linux): callers refuse unverifiable downloads
        #endif
    }
}

public final class CollectorClient: @unchecked Sendable {
    public let baseURL: URL
    private let token: String
    private let session: URLSession
    public var maxAttempts = 4
    public var backoffSeconds = 0.5

    public init(server: String, token: String, session: URLSession = .shared) throws {
        var s = server.trimmingCharacters(in: .whitespaces)
        if !s.contains("://") { s = "http://" + s }
        while s.hasSuffix("/") { s.removeLast() }
        guard let url = URL(string: s) else {
            throw CollectorError(status: 0, message: "\(server) is not a URL; use e.g. http://192.168.1.20:8765")
        }
        baseURL = url
        self.token = token.trimmingCharacters(in: .whitespaces)
        self.session = session
    }

    // MARK: artifacts

    public func listArtifacts() async throws -> [ArtifactEntry] {
        struct Page: Decodable { let artifacts: [ArtifactEntry] }
        let data = try await get("/api/v1/artifacts")
        return try JSONDecoder().decode(Page.self, from: data).artifacts
    }

    public func manifest(_ id: String) async throws -> (ArtifactManifest, Data) {
        let data = try await get("/api/v1/artifacts/\(escape(id))/manifest")
        return (try JSONDecoder().decode(ArtifactManifest.self, from: data), data)
    }

    /// Downloads an artifact into `dir` as `mobilekit convert` lays it out (manifest.json and the
    /// model; a zipped .mlpackage is unpacked). The bytes must hash to X-Checksum-Sha256 and to
    /// the list's file_sha256, or nothing is kept.
    public func download(_ entry: ArtifactEntry, into dir: URL) async throws -> ArtifactManifest {
        let (manifest, manifestData) = try await self.manifest(entry.id)
        try ArtifactNames.check(manifest)  // before anything is written under `dir`
        let (data, response) = try await send(request("/api/v1/artifacts/\(escape(entry.id))/file"))
        try check(response, data, path: "file")
        guard let actual = SHA256Hex.of(data) else {
            throw CollectorError(status: 0, message: "cannot verify the download without CryptoKit")
        }
        let header = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "X-Checksum-Sha256")
        if actual != entry.fileSha256 || (header != nil && header != actual) {
            throw CollectorError(status: 200, message: "download of \(entry.id) is corrupt "
                + "(sha256 \(actual) != \(entry.fileSha256)); download it again")
        }
        let fm = FileManager.default
        try? fm.removeItem(at: dir)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        if entry.fileName == manifest.file + ".zip" {
            try ZipExtractor.extract(data, into: dir)
        } else {
            try data.write(to: dir.appendingPathComponent(manifest.file), options: .atomic)
        }
        try await downloadCheckSet(manifest, entry: entry, into: dir)
        try manifestData.write(to: dir.appendingPathComponent("manifest.json"), options: .atomic)
        return manifest
    }

    /// The check set's files (checkset/<name>), each sha256-checked against the manifest, as
    /// CollectorClient.java does. An artifact stored before check sets travelled (404 / 410)
    /// downloads without one: the benchmark then reports "check set missing", never a pass.
    private func downloadCheckSet(_ manifest: ArtifactManifest, entry: ArtifactEntry, into dir: URL) async throws {
        guard let set = manifest.checkSet else { return }
        let files = [set.input] + set.outputs + (set.labels.map { [$0] } ?? [])
        let folder = dir.appendingPathComponent("checkset")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for tensor in files {
            let name = String(tensor.file.dropFirst("checkset/".count))
            guard tensor.file.hasPrefix("checkset/"), !name.isEmpty, !name.contains("/") else {
                throw CollectorError(status: 200, message: "check set file \(tensor.file) is not directly in checkset/")
            }
            let (data, response) = try await send(request("/api/v1/artifacts/\(escape(entry.id))/checkset/\(escape(name))"))
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            if status == 404 || status == 410 { try? FileManager.default.removeItem(at: folder); return }
            try check(response, data, path: "checkset/\(name)")
            guard SHA256Hex.of(data) == tensor.sha256 else {
                throw CollectorError(status: 200, message: "download of \(tensor.file) is corrupt; download it again")
            }
            try data.write(to: folder.appendingPathComponent(name), options: .atomic)
        }
    }

    // MARK: reports

    /// POSTs one report; transient failures are retried with the same bytes (same report_id).
    public func post(_ body: Data) async throws -> PostResult {
        var last = CollectorError(status: 0, message: "not sent")
        var wait = backoffSeconds
        for attempt in 1...max(1, maxAttempts) {
            var req = request("/api/v1/reports")
            req.httpMethod = "POST"
            req.setValue("application/json", forHTTPHeaderField: "Content-Type")
            req.httpBody = body
            do {
                let (data, response) = try await send(req)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if status == 200 || status == 201 {
                    let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
                    let dup = (obj?["duplicate"] as? Bool) ?? (status == 200)
                    return PostResult(id: obj?["id"] as? String, duplicate: dup, status: status, attempts: attempt)
                }
                last = httpError(status, data, path: "/api/v1/reports")
            } catch let e as CollectorError {
                last = e
            }
            if !last.isTransient || attempt == maxAttempts { break }
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            wait *= 2
        }
        throw last
    }

    public func post(_ report: DeviceReport) async throws -> PostResult {
        try await post(try Wire.encode(report))
    }

    // MARK: HTTP

    private func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
    }

    private func request(_ path: String) -> URLRequest {
        var req = URLRequest(url: URL(string: baseURL.absoluteString + path)!, timeoutInterval: 60)
        req.setValue("application/json", forHTTPHeaderField: "Accept")
        if !token.isEmpty { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return req
    }

    private func get(_ path: String) async throws -> Data {
        let (data, response) = try await send(request(path))
        try check(response, data, path: path)
        return data
    }

    /// Completion-handler API wrapped for async: it exists on every platform's Foundation.
    private func send(_ req: URLRequest) async throws -> (Data, URLResponse) {
        try await withCheckedThrowingContinuation { cont in
            session.dataTask(with: req) { data, response, error in
                if let error {
                    cont.resume(throwing: CollectorError(status: 0, message: "collector at \(self.baseURL) "
                        + "unreachable (\(error.localizedDescription)); check the URL and that `mobilekit collect` runs"))
                } else {
                    cont.resume(returning: (data ?? Data(), response ?? URLResponse()))
                }
            }.resume()
        }
    }

    private func check(_ response: URLResponse, _ data: Data, path: String) throws {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status != 200 { throw httpError(status, data, path: path) }
    }

    private func httpError(_ status: Int, _ data: Data, path: String) -> CollectorError {
        let detail = String(decoding: data.prefix(300), as: UTF8.self)
        let fix: String
        switch status {
        case 401, 403: fix = "the collector refused the token; use the one `mobilekit collect` printed"
        case 404: fix = "not found; check the id and that the URL is the collector's"
        case 413: fix = "too large for the collector; run fewer iterations"
        case 422: fix = "the collector rejected the report as invalid (schema versions differ?)"
        default: fix = "collector error; see its log"
        }
        return CollectorError(status: status, message: "HTTP \(status) from \(path): \(fix) (\(detail))")
    }
}
