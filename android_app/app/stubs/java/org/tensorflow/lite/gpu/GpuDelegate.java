// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/delegates/gpu/java/src/main/java/org/tensorflow/lite/gpu/GpuDelegate.java
// (com.google.ai.edge.litert:litert-gpu 1.4.2 is pinned, the version of litert; the LiteRT repository
// has no v1.4.2 tag: v1.4.1 is the nearest, and this file is identical from v1.4.1 to v2.2.0.)
package org.tensorflow.lite.gpu;

import org.tensorflow.lite.Delegate;

public class GpuDelegate implements Delegate {
  public GpuDelegate(GpuDelegateFactory.Options options) {
    throw new UnsupportedOperationException();
  }

  public GpuDelegate() {
    throw new UnsupportedOperationException();
  }

  @Deprecated
  public static class Options extends GpuDelegateFactory.Options {}

  @Override
  public long getNativeHandle() {
    throw new UnsupportedOperationException();
  }

  @Override
  public void close() {
    throw new UnsupportedOperationException();
  }
}
