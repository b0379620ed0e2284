// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/java/src/main/java/org/tensorflow/lite/Delegate.java
// (com.google.ai.edge.litert:litert 1.4.2 is pinned; the LiteRT repository has no v1.4.2 tag:
// v1.4.1 is the nearest.) Upstream close() is a default method with an empty body, as here.
package org.tensorflow.lite;

import java.io.Closeable;

public interface Delegate extends Closeable {
  long getNativeHandle();

  @Override
  default void close() {}
}
