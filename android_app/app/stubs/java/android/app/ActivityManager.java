// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/app/ActivityManager.java (only the members this app calls).
package android.app;

public class ActivityManager {
  ActivityManager() {
    throw new UnsupportedOperationException();
  }

  public void getMemoryInfo(MemoryInfo outInfo) {
    throw new UnsupportedOperationException();
  }

  public static class MemoryInfo {
    public long totalMem;

    public MemoryInfo() {
      throw new UnsupportedOperationException();
    }
  }
}
