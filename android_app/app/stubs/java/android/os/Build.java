// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/os/Build.java (only the members this app reads). The String fields are
// read from system properties at run time, so they are not compile-time constants here either.
package android.os;

public class Build {
  public static final String UNKNOWN = "unknown";
  public static final String DEVICE = prop();
  public static final String MANUFACTURER = prop();
  public static final String MODEL = prop();
  public static final String SOC_MANUFACTURER = prop(); // API 31
  public static final String SOC_MODEL = prop(); // API 31
  public static final String HARDWARE = prop();

  private static String prop() {
    throw new UnsupportedOperationException();
  }

  public static class VERSION {
    public static final String RELEASE = prop();
    public static final int SDK_INT = Integer.parseInt(prop());
  }

  public static class VERSION_CODES {
    public static final int Q = 29;
    public static final int S = 31;
  }
}
