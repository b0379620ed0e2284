// The artifact naming rule every reader applies (mobilekit/collector/schemas/artifact_names.json,
// the same cases the collector's wire.py and Android's Manifest.java are tested on): the model
// file is one plain name inside the artifact folder, so a download can neither leave the folder
// nor overwrite manifest.json; the model name can be part of a collector artifact id and URL.

import Foundation

public enum ArtifactNames {
    public struct NameError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func checkFile(_ file: String) throws {
        let control = file.unicodeScalars.contains { $0.value < 32 || $0.value == 127 }
        if file.isEmpty || file == "." || file == ".." || file.contains("/") || file.contains("\\")
            || file == "manifest.json" || control {
            throw NameError(description: "manifest file \"\(file)\" must be a plain file name inside "
                + "the artifact folder (not manifest.json); re-convert the artifact")
        }
    }

    public static func checkModel(_ model: String) throws {
        let scalars = Array(model.unicodeScalars)
        func allowed(_ s: Unicode.Scalar, first: Bool) -> Bool {
            let v = s.value
            let alnum = (48...57).contains(v) || (65...90).contains(v) || (97...122).contains(v)
            return alnum || (!first && (s == "_" || s == "." || s == "-"))
        }
        let ok = (1...100).contains(scalars.count)
            && scalars.enumerated().allSatisfy { allowed($0.element, first: $0.offset == 0) }
        if !ok {
            throw NameError(description: "manifest model \"\(model)\" must be 1-100 letters, digits, "
                + "'_', '.' or '-' starting with a letter or digit; re-convert the artifact")
        }
    }

    /// Both checks, for a manifest read from disk or downloaded.
    public static func check(_ manifest: ArtifactManifest) throws {
        try checkModel(manifest.model)
        try checkFile(manifest.file)
    }
}
