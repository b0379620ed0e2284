// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/java/src/main/java/org/tensorflow/lite/InterpreterApi.java
// (com.google.ai.edge.litert:litert 1.4.2 is pinned; the LiteRT repository has no v1.4.2 tag:
// v1.4.1 is the nearest, and every member below is unchanged from v1.4.1 to v2.2.0.)
package org.tensorflow.lite;

import java.util.Map;

public interface InterpreterApi extends AutoCloseable {
  class Options {
    public Options() {
      throw new UnsupportedOperationException();
    }

    public Options setNumThreads(int numThreads) {
      throw new UnsupportedOperationException();
    }

    public Options addDelegate(Delegate delegate) {
      throw new UnsupportedOperationException();
    }
  }

  void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs);

  int getInputTensorCount();

  Tensor getInputTensor(int inputIndex);

  int getOutputTensorCount();

  Tensor getOutputTensor(int outputIndex);

  public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs);

  public Tensor getInputTensorFromSignature(String inputName, String signatureKey);

  public String[] getSignatureKeys();

  public String[] getSignatureOutputs(String signatureKey);

  public Tensor getOutputTensorFromSignature(String outputName, String signatureKey);

  @Override
  void close();
}
