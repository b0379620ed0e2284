// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/executorch@v1.5.1
//   extension/android/executorch_android/src/main/java/org/pytorch/executorch/Tensor.kt
// The snapshot used had no v1.5.1 tag: written from main@cff6f4dd32 (version.txt 1.5.0);
// identical at v1.4.1. Kotlin `abstract class Tensor internal constructor(shape: LongArray)`;
// companion @JvmStatic `fun fromBlob(data: FloatArray, shape: LongArray): Tensor` -> static.
package org.pytorch.executorch;

public abstract class Tensor {
  Tensor() {
    throw new UnsupportedOperationException();
  }

  public static Tensor fromBlob(float[] data, long[] shape) {
    throw new UnsupportedOperationException();
  }

  // `open val dataAsFloatArray: FloatArray` (Tensor.kt) -> the Java getter.
  public float[] getDataAsFloatArray() {
    throw new UnsupportedOperationException();
  }
}
