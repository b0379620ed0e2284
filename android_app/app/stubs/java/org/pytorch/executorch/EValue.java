// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/executorch@v1.5.1
//   extension/android/executorch_android/src/main/java/org/pytorch/executorch/EValue.kt
// The snapshot used had no v1.5.1 tag: written from main@cff6f4dd32 (version.txt 1.5.0);
// identical at v1.4.1. Kotlin `class` (final, private constructor); companion @JvmStatic
// `fun from(tensor: Tensor): EValue` -> static.
package org.pytorch.executorch;

public final class EValue {
  private EValue() {
    throw new UnsupportedOperationException();
  }

  public static EValue from(Tensor tensor) {
    throw new UnsupportedOperationException();
  }

  // `@DoNotStrip fun toTensor(): Tensor` (EValue.kt).
  public Tensor toTensor() {
    throw new UnsupportedOperationException();
  }
}
