// Unzips what the collector serves for a directory artifact (an .mlpackage travels as a zip
// made by mobilekit/collector/artifacts.py: stored or deflated entries, no zip64). Foundation
// on iOS has no unzip, and a third-party dependency is not wanted for ~80 lines.

import Foundation
#if canImport(Compression)
import Compression
#endif

public enum ZipError: Error, CustomStringConvertible {
    case malformed(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .malformed(let s): return "the downloaded zip is damaged (\(s)); download it again"
        case .unsupported(let s): return "the downloaded zip uses \(s), which this app cannot unpack"
        }
    }
}

public enum ZipExtractor {
    public static func extract(_ zip: Data, into dir: URL) throws {
        let bytes = [UInt8](zip)
        func u16(_ o: Int) throws -> Int {
            guard o + 2 <= bytes.count else { throw ZipError.malformed("truncated at \(o)") }
            return Int(bytes[o]) | Int(bytes[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int {
            guard o + 4 <= bytes.count else { throw ZipError.malformed("truncated at \(o)") }
            let low = try u16(o)
            let high = try u16(o + 2)
            return low | high << 16
        }
        // End of central directory: the last 22+ bytes (no archive comment is written).
        var eocd = bytes.count - 22
        while eocd >= 0, (try? u32(eocd)) != 0x0605_4b50 { eocd -= 1 }
        guard eocd >= 0 else { throw ZipError.malformed("no end of central directory") }
        let entries = try u16(eocd + 10)
        var p = try u32(eocd + 16)
        let root = dir.standardizedFileURL
        for _ in 0..<entries {
            guard try u32(p) == 0x0201_4b50 else { throw ZipError.malformed("bad central directory") }
            let method = try u16(p + 10)
            let csize = try u32(p + 20)
            let usize = try u32(p + 24)
            let nameLen = try u16(p + 28)
            let extraLen = try u16(p + 30)
            let commentLen = try u16(p + 32)
            let local = try u32(p + 42)
            guard p + 46 + nameLen <= bytes.count else { throw ZipError.malformed("truncated name") }
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            p += 46 + nameLen + extraLen + commentLen

            let target = root.appendingPathComponent(name).standardizedFileURL
            guard !name.hasPrefix("/"), target.path.hasPrefix(root.path + "/") else {
                throw ZipError.malformed("entry \(name) points outside the folder")
            }
            if name.hasSuffix("/") {
                try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                continue
            }
            guard try u32(local) == 0x0403_4b50 else { throw ZipError.malformed("bad local header") }
            let localNameLen = try u16(local + 26)
            let localExtraLen = try u16(local + 28)
            let start = local + 30 + localNameLen + localExtraLen
            guard start + csize <= bytes.count else { throw ZipError.malformed("truncated data") }
            let raw = Array(bytes[start..<(start + csize)])
            let content: [UInt8]
            switch method {
            case 0: content = raw
            case 8: content = try inflate(raw, size: usize)
            default: throw ZipError.unsupported("compression method \(method)")
            }
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try Data(content).write(to: target, options: .atomic)
        }
    }

    /// Raw DEFLATE (RFC 1951), which is what Compression's COMPRESSION_ZLIB decodes.
    static func inflate(_ input: [UInt8], size: Int) throws -> [UInt8] {
        #if canImport(Compression)
        if size == 0 { return [] }
        var out = [UInt8](repeating: 0, count: size)
        let n = compression_decode_buffer(&out, size, input, input.count, nil, COMPRESSION_ZLIB)
        guard n == size else { throw ZipError.malformed("inflated \(n) of \(size) bytes") }
        return out
        #else
        throw ZipError.unsupported("deflate without Apple's Compression framework")
        #endif
    }
}
