// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: AOSP platform/frameworks/base@android-15.0.0_r1 (API 35 = compileSdk)
//   core/java/android/content/Context.java (only the members this app calls).
package android.content;

import android.content.res.Resources;
import java.io.File;

public abstract class Context {
  public static final String ACTIVITY_SERVICE = "activity";
  public static final String POWER_SERVICE = "power";

  public abstract Resources getResources();

  public abstract File getFilesDir();

  public abstract File getExternalFilesDir(String type);

  public abstract Object getSystemService(String name);
}
