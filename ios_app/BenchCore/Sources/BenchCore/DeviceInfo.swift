// The report's device: model identifier from utsname (e.g. iPhone16,1), OS version, cores, RAM,
// and the thermal state's name (ProcessInfo.ThermalState).

import Foundation

public enum DeviceInfo {
    /// Hardware model identifier, e.g. "iPhone16,1" (the simulator reports its host's arch).
    public static func modelIdentifier() -> String {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// `model` is the human name the user may type (UIDevice gives only "iPhone").
    public static func current(model: String? = nil, chip: String? = nil) -> Device {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        let version = v.patchVersion > 0 ? "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
                                         : "\(v.majorVersion).\(v.minorVersion)"
        let identifier = modelIdentifier()
        #if os(iOS)
        let os = "iOS"
        let kind = identifier.hasPrefix("iPad") ? "tablet" : "phone"
        #elseif os(macOS)
        let os = "macOS"
        let kind = "host"
        #else
        let os = "Linux"
        let kind = "host"
        #endif
        return Device(kind: kind, make: "Apple", model: model ?? identifier, modelIdentifier: identifier,
                      os: os, osVersion: version, chip: chip,
                      cpuCores: ProcessInfo.processInfo.processorCount,
                      ramMb: Int(ProcessInfo.processInfo.physicalMemory / (1024 * 1024)))
    }

    /// nominal / fair / serious / critical, or nil where the OS has no thermal state.
    public static func thermalState() -> String? {
        #if canImport(Darwin)
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
        #else
        return nil
        #endif
    }

    /// The process's physical footprint in MiB (what Xcode's memory gauge shows).
    public static func memoryFootprintMb() -> Double? {
        #if canImport(Darwin)
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let kr = withUnsafeMutablePointer(to: &info) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        return kr == KERN_SUCCESS ? Double(info.phys_footprint) / (1024 * 1024) : nil
        #else
        return nil
        #endif
    }
}
