// Compile-only stub for tests/test_android_runners_compile.py; never packaged into the app.
// Source: google-ai-edge/LiteRT@v1.4.1 tflite/java/src/main/java/org/tensorflow/lite/InterpreterImpl.java
// (com.google.ai.edge.litert:litert 1.4.2 is pinned; the LiteRT repository has no v1.4.2 tag:
// v1.4.1 is the nearest, and every member below is unchanged from v1.4.1 to v2.2.0.)
// Package-private, like upstream: Interpreter's public methods are inherited from it.
package org.tensorflow.lite;

import java.util.Map;

class InterpreterImpl implements InterpreterApi {
  static class Options extends InterpreterApi.Options {
    public Options() {
      throw new UnsupportedOperationException();
    }
  }

  InterpreterImpl() {
    throw new UnsupportedOperationException();
  }

  @Override
  public void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs) {
    throw new UnsupportedOperationException();
  }

  @Override
  public int getInputTensorCount() {
    throw new UnsupportedOperationException();
  }

  @Override
  public Tensor getInputTensor(int inputIndex) {
    throw new UnsupportedOperationException();
  }

  @Override
  public int getOutputTensorCount() {
    throw new UnsupportedOperationException();
  }

  @Override
  public Tensor getOutputTensor(int outputIndex) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs) {
    throw new UnsupportedOperationException();
  }

  @Override
  public Tensor getInputTensorFromSignature(String inputName, String signatureKey) {
    throw new UnsupportedOperationException();
  }

  @Override
  public String[] getSignatureKeys() {
    throw new UnsupportedOperationException();
  }

  @Override
  public String[] getSignatureOutputs(String signatureKey) {
    throw new UnsupportedOperationException();
  }

  @Override
  public Tensor getOutputTensorFromSignature(String outputName, String signatureKey) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void close() {
    throw new UnsupportedOperationException();
  }
}
