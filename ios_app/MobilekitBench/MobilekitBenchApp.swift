import SwiftUI

@main
struct MobilekitBenchApp: App {
    @StateObject private var model = BenchModel()

    var body: some Scene {
        WindowGroup {
            ContentView().environmentObject(model)
        }
    }
}
