// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: pytorch/pytorch@v1.13.1 (what org.pytorch:pytorch_android_lite:1.13.1 is built from)
//   android/pytorch_android/src/main/java/org/pytorch/Module.java
// Read from the v1.13.1 release source (Debian bookworm pytorch_1.13.1+dfsg.orig.tar.xz).
package org.pytorch;

public class Module {
  Module() {
    throw new UnsupportedOperationException();
  }

  public IValue forward(IValue... inputs) {
    throw new UnsupportedOperationException();
  }

  public IValue runMethod(String methodName, IValue... inputs) {
    throw new UnsupportedOperationException();
  }

  public void destroy() {
    throw new UnsupportedOperationException();
  }
}
