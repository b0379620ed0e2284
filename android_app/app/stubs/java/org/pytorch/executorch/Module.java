// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/executorch@v1.5.1
//   extension/android/executorch_android/src/main/java/org/pytorch/executorch/Module.kt
// The snapshot used had no v1.5.1 tag (the 1.5.1 wheel names commit 3b60683923, absent there):
// written from main@cff6f4dd32 (version.txt 1.5.0); every member below is identical at v1.4.1.
// Kotlin -> Java: `open class` -> non-final class; companion `const val` -> static final field;
// companion `@JvmStatic @JvmOverloads fun load(...)` -> the three static overloads;
// `fun loadMethod(methodName: String)` (Unit, throws ExecutorchRuntimeException) -> void.
package org.pytorch.executorch;

import java.io.Closeable;

public class Module implements Closeable {
  public static final int LOAD_MODE_FILE = 0;
  public static final int LOAD_MODE_MMAP = 1;
  public static final int LOAD_MODE_MMAP_USE_MLOCK = 2;
  public static final int LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS = 3;

  private Module() {
    throw new UnsupportedOperationException();
  }

  public static Module load(String modelPath) {
    throw new UnsupportedOperationException();
  }

  public static Module load(String modelPath, int loadMode) {
    throw new UnsupportedOperationException();
  }

  public static Module load(String modelPath, int loadMode, int numThreads) {
    throw new UnsupportedOperationException();
  }

  public EValue[] forward(EValue... inputs) {
    throw new UnsupportedOperationException();
  }

  public void loadMethod(String methodName) {
    throw new UnsupportedOperationException();
  }

  public void destroy() {
    throw new UnsupportedOperationException();
  }

  @Override
  public void close() {
    throw new UnsupportedOperationException();
  }
}
