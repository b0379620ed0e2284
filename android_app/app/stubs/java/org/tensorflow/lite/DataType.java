// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/java/src/main/java/org/tensorflow/lite/DataType.java
// (com.google.ai.edge.litert:litert 1.4.2 is pinned; the LiteRT repository has no v1.4.2 tag:
// v1.4.1 is the nearest, and every member below is unchanged from v1.4.1 to v2.2.0.)
package org.tensorflow.lite;

public enum DataType {
  FLOAT32,
  INT32,
  UINT8,
  INT64,
  STRING,
  BOOL,
  INT16,
  INT8;

  public int byteSize() {
    throw new UnsupportedOperationException();
  }
}
