// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/delegates/gpu/java/src/main/java/org/tensorflow/lite/gpu/CompatibilityList.java
// (com.google.ai.edge.litert:litert-gpu 1.4.2 is pinned, the version of litert; the LiteRT repository
// has no v1.4.2 tag: v1.4.1 is the nearest, and this file is identical from v1.4.1 to v2.2.0.)
package org.tensorflow.lite.gpu;

import java.io.Closeable;

public class CompatibilityList implements Closeable {
  public boolean isDelegateSupportedOnThisDevice() {
    throw new UnsupportedOperationException();
  }

  public GpuDelegate.Options getBestOptionsForThisDevice() {
    throw new UnsupportedOperationException();
  }

  public CompatibilityList() {
    throw new UnsupportedOperationException();
  }

  @Override
  public void close() {
    throw new UnsupportedOperationException();
  }
}
