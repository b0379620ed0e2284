// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/delegates/gpu/java/src/main/java/org/tensorflow/lite/gpu/GpuDelegateFactory.java
// (in com.google.ai.edge.litert:litert-gpu-api 1.4.2, which litert-gpu depends on (LiteRT
// ci/build_android_package.sh); this file is identical from v1.4.1 to v2.2.0.)
// Upstream it implements DelegateFactory; the app uses only Options, so that is left out.
package org.tensorflow.lite.gpu;

public class GpuDelegateFactory {
  public static class Options {
    public Options() {
      throw new UnsupportedOperationException();
    }

    public Options setPrecisionLossAllowed(boolean precisionLossAllowed) {
      throw new UnsupportedOperationException();
    }
  }
}
