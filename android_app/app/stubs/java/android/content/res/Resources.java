// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/content/res/Resources.java (only the members this app calls).
package android.content.res;

public class Resources {
  public Configuration getConfiguration() {
    throw new UnsupportedOperationException();
  }
}
