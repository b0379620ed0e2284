import BenchCore
import SwiftUI
import UniformTypeIdentifiers

struct ContentView: View {
    @EnvironmentObject var model: BenchModel
    @State private var picking = false

    var body: some View {
        NavigationStack {
            Form {
                Section("Collector") {
                    TextField("http://192.168.1.20:8765", text: $model.server)
                        .textInputAutocapitalization(.never).keyboardType(.URL).autocorrectionDisabled()
                    SecureField("Token (printed by mobilekit collect)", text: $model.token)
                }
                Section("Compute units") {
                    ForEach(ComputeUnit.allCases, id: \.self) { unit in
                        Toggle(unit.rawValue, isOn: Binding(
                            get: { model.units.contains(unit) },
                            set: { on in if on { model.units.insert(unit) } else { model.units.remove(unit) } }))
                    }
                    Stepper("Warm-up \(model.warmup)", value: $model.warmup, in: 0...1000, step: 5)
                    Stepper("Iterations \(model.iterations)", value: $model.iterations, in: 1...10000, step: 10)
                }
                Section("Artifacts") {
                    Button("Refresh list") { Task { await model.refresh() } }
                    Button("Open folder from Files") { picking = true }
                    ForEach(model.artifacts) { a in
                        Button("\(a.model)  \(a.target)  \(a.precision ?? "")") { Task { await model.run(a) } }
                            .disabled(model.busy || model.units.isEmpty)
                    }
                }
                Section("Results") {
                    Text(model.status).font(.footnote)
                    Button("Send queued reports") { Task { await model.flush() } }
                    ForEach(model.results, id: \.self) { Text($0).font(.callout.monospacedDigit()) }
                }
            }
            .navigationTitle("mobilekit bench")
            .fileImporter(isPresented: $picking, allowedContentTypes: [.folder]) { result in
                if case .success(let url) = result { Task { await model.run(folder: url) } }
            }
        }
    }
}
