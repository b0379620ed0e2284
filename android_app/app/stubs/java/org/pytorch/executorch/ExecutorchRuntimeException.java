// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/executorch@v1.5.1
//   extension/android/executorch_android/src/main/java/org/pytorch/executorch/ExecutorchRuntimeException.kt
// The snapshot used had no v1.5.1 tag: written from main@cff6f4dd32 (version.txt 1.5.0);
// identical at v1.4.1. Kotlin `open class ... (val errorCode: Int, details: String?) :
// RuntimeException(...)`: unchecked; message "[ExecuTorch Error 0x..] <name>: <details>".
package org.pytorch.executorch;

public class ExecutorchRuntimeException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ExecutorchRuntimeException(int errorCode, String details) {
    throw new UnsupportedOperationException();
  }
}
