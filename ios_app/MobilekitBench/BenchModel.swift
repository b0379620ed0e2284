// The app's state and actions; all benchmark logic lives in BenchCore.
import BenchCore
import Foundation
import SwiftUI

@MainActor
final class BenchModel: ObservableObject {
    // Settings survive restarts (UserDefaults); @Published so the form redraws on change.
    @Published var server = UserDefaults.standard.string(forKey: "server") ?? "" {
        didSet { UserDefaults.standard.set(server, forKey: "server") }
    }
    @Published var token = UserDefaults.standard.string(forKey: "token") ?? "" {
        didSet { UserDefaults.standard.set(token, forKey: "token") }
    }
    @Published var warmup = UserDefaults.standard.object(forKey: "warmup") as? Int ?? 10 {
        didSet { UserDefaults.standard.set(warmup, forKey: "warmup") }
    }
    @Published var iterations = UserDefaults.standard.object(forKey: "iterations") as? Int ?? 100 {
        didSet { UserDefaults.standard.set(iterations, forKey: "iterations") }
    }
    @Published var units: Set<ComputeUnit> = [.cpuAndNeuralEngine, .cpuAndGPU]
    @Published var artifacts: [ArtifactEntry] = []
    @Published var results: [String] = []
    @Published var status = ""
    @Published var busy = false

    private let documents = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    private var queue: ReportQueue { ReportQueue(dir: documents.appendingPathComponent("queue")) }

    private func client() -> CollectorClient? {
        server.isEmpty ? nil : try? CollectorClient(server: server, token: token)
    }

    func refresh() async {
        guard let client = client() else { status = "set the collector URL first"; return }
        do {
            artifacts = try await client.listArtifacts().filter { $0.target.hasPrefix("coreml") || $0.target == "ane" }
            status = "\(artifacts.count) Core ML artifacts, \(queue.pending().count) reports queued"
        } catch {
            status = "\(error)"
        }
    }

    /// Downloads (sha256-checked) and benchmarks one collector artifact on every ticked unit.
    func run(_ entry: ArtifactEntry) async {
        guard let client = client() else { status = "set the collector URL first"; return }
        busy = true
        defer { busy = false }
        do {
            status = "downloading \(entry.id) ..."
            let dir = documents.appendingPathComponent("artifacts/\(entry.id)")
            let manifest = try await client.download(entry, into: dir)
            await benchmark(dir.appendingPathComponent(manifest.file), manifest: manifest, artifactId: entry.id)
        } catch {
            status = "\(error)"
        }
    }

    /// A folder picked in Files (or bundled): manifest.json + the .mlpackage.
    func run(folder: URL) async {
        busy = true
        defer { busy = false }
        let scoped = folder.startAccessingSecurityScopedResource()
        defer { if scoped { folder.stopAccessingSecurityScopedResource() } }
        do {
            let manifest = try Wire.decode(ArtifactManifest.self,
                                           from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
            try ArtifactNames.check(manifest)
            await benchmark(folder.appendingPathComponent(manifest.file), manifest: manifest, artifactId: nil)
        } catch {
            status = "not an artifact folder (manifest.json + model): \(error)"
        }
    }

    private func benchmark(_ url: URL, manifest: ArtifactManifest, artifactId: String?) async {
        #if canImport(CoreML)
        let settings = BenchmarkSettings(computeUnits: ComputeUnit.allCases.filter { units.contains($0) },
                                         warmup: warmup, iterations: iterations)
        status = "benchmarking \(manifest.model) ..."
        let version = Bundle.main.infoDictionary?["CFBundleShortVersionString"] as? String ?? "0.1.0"
        let reports = await Task.detached(priority: .userInitiated) {
            Benchmark.run(CoreMLRunner(), model: url, manifest: manifest, artifactId: artifactId,
                          settings: settings, device: DeviceInfo.current(), appVersion: version,
                          thermal: DeviceInfo.thermalState, memoryMb: DeviceInfo.memoryFootprintMb)
        }.value
        for r in reports {
            if let res = r.results {
                results.insert(String(format: "%@ %@: median %.2f ms, p90 %.2f ms (compile %.0f, load %.0f ms)",
                                      r.artifact.model, r.config.computeUnits, res.latencyMs.median,
                                      res.latencyMs.p90, res.compileMs ?? 0, res.loadMs), at: 0)
            } else {
                results.insert("\(r.artifact.model) \(r.config.computeUnits): \(r.error ?? "failed")", at: 0)
            }
        }
        do {
            let d = try await queue.deliver(reports, via: client())
            status = "sent \(d.sent + d.duplicates), queued \(d.remaining)" + (d.stoppedBy.map { " (\($0))" } ?? "")
        } catch {
            status = "could not queue the reports: \(error)"
        }
        #endif
    }

    func flush() async {
        guard let client = client() else { status = "set the collector URL first"; return }
        let r = await queue.flush(client)
        status = "sent \(r.sent), duplicates \(r.duplicates), rejected \(r.rejected), still queued \(r.remaining)"
    }
}
