// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/java/src/main/java/org/tensorflow/lite/Interpreter.java
// (com.google.ai.edge.litert:litert 1.4.2 is pinned; the LiteRT repository has no v1.4.2 tag:
// v1.4.1 is the nearest, and every member below is unchanged from v1.4.1 to v2.2.0.)
package org.tensorflow.lite;

import java.io.File;
import java.nio.ByteBuffer;

public final class Interpreter extends InterpreterImpl implements InterpreterApi {
  public static class Options extends InterpreterImpl.Options {
    public Options() {
      throw new UnsupportedOperationException();
    }

    @Override
    public Options setNumThreads(int numThreads) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Options addDelegate(Delegate delegate) {
      throw new UnsupportedOperationException();
    }
  }

  public Interpreter(File modelFile) {
    throw new UnsupportedOperationException();
  }

  public Interpreter(File modelFile, Options options) {
    throw new UnsupportedOperationException();
  }

  public Interpreter(ByteBuffer byteBuffer) {
    throw new UnsupportedOperationException();
  }

  public Interpreter(ByteBuffer byteBuffer, Options options) {
    throw new UnsupportedOperationException();
  }
}
