// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/pytorch@v1.13.1 (what org.pytorch:pytorch_android_lite:1.13.1 is built from)
//   android/pytorch_android/src/main/java/org/pytorch/Tensor.java
// Read from the v1.13.1 release source (Debian bookworm pytorch_1.13.1+dfsg.orig.tar.xz).
package org.pytorch;

public abstract class Tensor {
  private Tensor() {
    throw new UnsupportedOperationException();
  }

  public static Tensor fromBlob(float[] data, long[] shape) {
    throw new UnsupportedOperationException();
  }

  public float[] getDataAsFloatArray() {
    throw new UnsupportedOperationException();
  }
}
