// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/content/res/Configuration.java (only the members this app reads).
package android.content.res;

public final class Configuration {
  public int smallestScreenWidthDp;
}
