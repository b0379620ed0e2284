package org.mobilekit.bench;

import android.app.ActivityManager;
import android.content.Context;
import android.os.Build;
import android.os.Debug;
import android.os.PowerManager;
import org.mobilekit.benchcore.Benchmark;
import org.mobilekit.benchcore.BenchmarkSession;
import org.mobilekit.benchcore.DeviceInfo;

/** What the report says about the phone: Build, cores, RAM, thermal status, memory (PSS). */
final class AndroidDevice {
  private AndroidDevice() {}

  static DeviceInfo info(Context ctx) {
    DeviceInfo d = new DeviceInfo(Build.MANUFACTURER, Build.MODEL, Build.VERSION.RELEASE);
    d.os = "Android";
    d.modelIdentifier = Build.DEVICE; // e.g. shiba for a Pixel 8
    d.chip = chip();
    d.cpuCores = Runtime.getRuntime().availableProcessors();
    ActivityManager am = (ActivityManager) ctx.getSystemService(Context.ACTIVITY_SERVICE);
    ActivityManager.MemoryInfo mi = new ActivityManager.MemoryInfo();
    am.getMemoryInfo(mi);
    d.ramMb = (int) (mi.totalMem / (1024 * 1024));
    d.kind = ctx.getResources().getConfiguration().smallestScreenWidthDp >= 600 ? "tablet" : "phone";
    return d;
  }

  /** The SoC (Build.SOC_MODEL, API 31+), else the board name. */
  private static String chip() {
    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S
        && !Build.UNKNOWN.equals(Build.SOC_MODEL)) {
      return Build.SOC_MANUFACTURER + " " + Build.SOC_MODEL;
    }
    return Build.HARDWARE;
  }

  /** PowerManager's thermal status name (API 29+), the words the collector shows. */
  static BenchmarkSession.ThermalProbe thermal(Context ctx) {
    PowerManager pm = (PowerManager) ctx.getSystemService(Context.POWER_SERVICE);
    return () -> {
      if (Build.VERSION.SDK_INT < Build.VERSION_CODES.Q || pm == null) {
        return null;
      }
      switch (pm.getCurrentThermalStatus()) {
        case PowerManager.THERMAL_STATUS_NONE: return "none";
        case PowerManager.THERMAL_STATUS_LIGHT: return "light";
        case PowerManager.THERMAL_STATUS_MODERATE: return "moderate";
        case PowerManager.THERMAL_STATUS_SEVERE: return "severe";
        case PowerManager.THERMAL_STATUS_CRITICAL: return "critical";
        case PowerManager.THERMAL_STATUS_EMERGENCY: return "emergency";
        case PowerManager.THERMAL_STATUS_SHUTDOWN: return "shutdown";
        default: return "unknown";
      }
    };
  }

  /** The process's proportional set size in MiB (native runtime memory included). */
  static Benchmark.MemoryProbe memory() {
    return () -> Debug.getPss() / 1024.0;
  }
}
