// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/os/PowerManager.java (only the members this app uses; the constants are
// compile-time ints there too, so they can label switch cases).
package android.os;

public final class PowerManager {
  public static final int THERMAL_STATUS_NONE = 0;
  public static final int THERMAL_STATUS_LIGHT = 1;
  public static final int THERMAL_STATUS_MODERATE = 2;
  public static final int THERMAL_STATUS_SEVERE = 3;
  public static final int THERMAL_STATUS_CRITICAL = 4;
  public static final int THERMAL_STATUS_EMERGENCY = 5;
  public static final int THERMAL_STATUS_SHUTDOWN = 6;

  PowerManager() {
    throw new UnsupportedOperationException();
  }

  public int getCurrentThermalStatus() {
    throw new UnsupportedOperationException();
  }
}
