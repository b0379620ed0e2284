// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/pytorch@v1.13.1 (what org.pytorch:pytorch_android_lite:1.13.1 is built from)
//   android/pytorch_android/src/main/java/org/pytorch/IValue.java
// Read from the v1.13.1 release source (Debian bookworm pytorch_1.13.1+dfsg.orig.tar.xz).
package org.pytorch;

public class IValue {
  private IValue() {
    throw new UnsupportedOperationException();
  }

  public static IValue from(Tensor tensor) {
    throw new UnsupportedOperationException();
  }

  public boolean isTuple() {
    throw new UnsupportedOperationException();
  }

  public Tensor toTensor() {
    throw new UnsupportedOperationException();
  }

  public IValue[] toTuple() {
    throw new UnsupportedOperationException();
  }
}
