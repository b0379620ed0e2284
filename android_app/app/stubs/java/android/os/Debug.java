// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/os/Debug.java (only the members this app calls).
package android.os;

public final class Debug {
  private Debug() {}

  public static long getPss() {
    throw new UnsupportedOperationException();
  }
}
