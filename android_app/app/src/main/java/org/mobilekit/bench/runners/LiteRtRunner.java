package org.mobilekit.bench.runners;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.mobilekit.bench.BuildConfig;
import org.mobilekit.benchcore.CheckingRunner;
import org.mobilekit.benchcore.InputTensor;
import org.mobilekit.benchcore.Manifest;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.gpu.GpuDelegateFactory;

/**
 * .tflite through LiteRT's Interpreter (com.google.ai.edge.litert), CPU with XNNPACK, or with
 * LiteRT's GPU delegate (com.google.ai.edge.litert:litert-gpu) when built for "gpu": the same
 * file, the ops the delegate takes run on the GPU and the rest on the CPU. A static-int8 model
 * takes int8 input: the float clip is quantized once at load with the input tensor's scale and
 * zero point, so run() is inference only. It also runs the artifact's check set
 * ({@link CheckingRunner}): outputs are read back as float32, int8/uint8 ones dequantized.
 * Streaming artifacts (float32) run one Interpreter per program through its signature:
 * inputs fed by the manifest's names, outputs read in the model's order (output_0, output_1,
 * ...: litert-torch's names, whose tensor indices are not in that order).
 */
public final class LiteRtRunner implements CheckingRunner {
  final boolean gpu; // package-private: the JVM probe RunnerChoice reads it
  private Interpreter interpreter;
  private GpuDelegate gpuDelegate;
  private ByteBuffer input;
  private float[] timedInput;
  private final Map<Integer, Object> outputs = new HashMap<>();
  private Program[] programs;

  /** One program of a streaming artifact: its interpreter and I/O buffers by signature name. */
  private static final class Program {
    Interpreter interpreter;
    String[] inputNames;
    String[] outputNames;
    final Map<String, Object> in = new HashMap<>();
    final Map<String, Object> out = new HashMap<>();
  }

  /** @param gpu add LiteRT's GPU delegate (compute units "gpu") */
  public LiteRtRunner(boolean gpu) {
    this.gpu = gpu;
  }

  @Override
  public String runtime() {
    return "litert";
  }

  @Override
  public String runtimeVersion() {
    // The pinned AAR's version, like the other runners. TensorFlowLite.runtimeVersion() loads the
    // native library: called here, before the benchmark guards load(), a missing .so would be an
    // UnsatisfiedLinkError that ends the run with no report instead of "load failed: ...".
    return BuildConfig.LITERT_VERSION;
  }

  @Override
  public void load(File modelFile, InputTensor in, int threads) {
    Interpreter.Options options = new Interpreter.Options();
    if (threads > 0) {
      options.setNumThreads(threads); // with the GPU delegate: for the ops it leaves to the CPU
    }
    if (gpu) {
      options.addDelegate(gpuDelegate());
    }
    interpreter = new Interpreter(modelFile, options);
    Tensor t = interpreter.getInputTensor(0);
    if (t.numElements() != in.numel()) {
      throw new IllegalArgumentException("the model's input has " + t.numElements()
          + " elements (shape " + java.util.Arrays.toString(t.shape()) + ") but the manifest "
          + "describes " + in.numel() + "; re-convert the artifact");
    }
    input = ByteBuffer.allocateDirect(t.numBytes()).order(ByteOrder.nativeOrder());
    timedInput = in.data;
    fill(timedInput);
    for (int i = 0; i < interpreter.getOutputTensorCount(); i++) {
      Tensor o = interpreter.getOutputTensor(i);
      outputs.put(i, ByteBuffer.allocateDirect(o.numBytes()).order(ByteOrder.nativeOrder()));
    }
  }

  /** The input buffer from a float clip, quantized for an int8/uint8 input. */
  private void fill(float[] data) {
    Tensor t = interpreter.getInputTensor(0);
    input.clear();
    DataType type = t.dataType();
    float scale = t.quantizationParams().getScale();
    int zero = t.quantizationParams().getZeroPoint();
    for (float v : data) {
      if (type == DataType.FLOAT32) {
        input.putFloat(v);
      } else if (type == DataType.INT8) {
        input.put((byte) Math.max(-128, Math.min(127, Math.round(v / scale) + zero)));
      } else if (type == DataType.UINT8) {
        input.put((byte) Math.max(0, Math.min(255, Math.round(v / scale) + zero)));
      } else {
        throw new IllegalArgumentException("input type " + type + " is not supported; "
            + "convert with float32, int8 or uint8 input");
      }
    }
  }

  @Override
  public float[][] outputs(float[] clip) {
    if (clip.length != timedInput.length) {
      throw new IllegalArgumentException("a check-set clip has " + clip.length + " values, the input "
          + timedInput.length);
    }
    fill(clip);
    run();
    // Output tensors in the interpreter's order, which is the manifest's for one output.
    float[][] out = new float[outputs.size()][];
    for (int i = 0; i < out.length; i++) {
      Tensor o = interpreter.getOutputTensor(i);
      ByteBuffer b = (ByteBuffer) outputs.get(i);
      b.rewind();
      DataType type = o.dataType();
      float scale = o.quantizationParams().getScale();
      int zero = o.quantizationParams().getZeroPoint();
      float[] f = new float[o.numElements()];
      for (int j = 0; j < f.length; j++) {
        if (type == DataType.FLOAT32) {
          f[j] = b.getFloat();
        } else if (type == DataType.INT8) {
          f[j] = (b.get() - zero) * scale;
        } else if (type == DataType.UINT8) {
          f[j] = ((b.get() & 0xff) - zero) * scale;
        } else {
          throw new IllegalArgumentException("output type " + type + " is not supported");
        }
      }
      out[i] = f;
    }
    fill(timedInput); // the timed runs use the fixed input again
    return out;
  }

  /**
   * The GPU delegate with the options LiteRT's CompatibilityList picks for this GPU, keeping
   * fp32 arithmetic: the artifact is fp32, so the GPU computes what the manifest describes
   * (the delegate's default would allow fp16).
   */
  private GpuDelegate gpuDelegate() {
    try (CompatibilityList compatibility = new CompatibilityList()) {
      if (!compatibility.isDelegateSupportedOnThisDevice()) {
        throw new IllegalStateException("LiteRT's GPU delegate does not support this device's "
            + "GPU (CompatibilityList); run with --compute-unit cpu");
      }
      GpuDelegateFactory.Options gpuOptions = compatibility.getBestOptionsForThisDevice();
      gpuOptions.setPrecisionLossAllowed(false);
      gpuDelegate = new GpuDelegate(gpuOptions);
      return gpuDelegate;
    }
  }

  @Override
  public void loadPrograms(File[] files, List<Manifest.Program> specs, int threads) {
    programs = new Program[files.length];
    for (int i = 0; i < files.length; i++) {
      Interpreter.Options options = new Interpreter.Options();
      if (threads > 0) {
        options.setNumThreads(threads);
      }
      if (gpu && i == 0) { // one GPU delegate instance per interpreter: the first program's
        options.addDelegate(gpuDelegate());
      }
      Program p = new Program();
      programs[i] = p;
      p.interpreter = new Interpreter(files[i], options);
      String key = p.interpreter.getSignatureKeys()[0];
      List<Manifest.TensorSpec> ins = specs.get(i).inputs;
      p.inputNames = new String[ins.size()];
      for (int k = 0; k < ins.size(); k++) {
        Manifest.TensorSpec spec = ins.get(k);
        Tensor t = p.interpreter.getInputTensorFromSignature(spec.name, key);
        if (t.dataType() != DataType.FLOAT32 || t.numElements() != spec.numel()) {
          throw new IllegalArgumentException(files[i].getName() + " input " + spec.name + " is "
              + t.dataType() + Arrays.toString(t.shape()) + ", the manifest describes float32"
              + Arrays.toString(spec.shape) + "; re-convert the artifact with --streaming");
        }
        p.inputNames[k] = spec.name;
        p.in.put(spec.name, ByteBuffer.allocateDirect(t.numBytes()).order(ByteOrder.nativeOrder()));
      }
      String[] names = p.interpreter.getSignatureOutputs(key).clone();
      Arrays.sort(names, (a, b) -> Integer.compare(outputNumber(a), outputNumber(b)));
      if (names.length != specs.get(i).outputs.size()) {
        throw new IllegalArgumentException(files[i].getName() + " has " + names.length
            + " outputs, the manifest " + specs.get(i).outputs.size() + "; re-convert the artifact");
      }
      p.outputNames = names;
      for (String name : names) {
        Tensor o = p.interpreter.getOutputTensorFromSignature(name, key);
        p.out.put(name, ByteBuffer.allocateDirect(o.numBytes()).order(ByteOrder.nativeOrder()));
      }
    }
  }

  /** The N of litert-torch's output_N (the model's output order); other names keep theirs. */
  private static int outputNumber(String name) {
    String tail = name.substring(name.lastIndexOf('_') + 1);
    try {
      return Integer.parseInt(tail);
    } catch (NumberFormatException e) {
      return Integer.MAX_VALUE;
    }
  }

  /** One program of a streaming artifact: inputs by the manifest's names, float32 outputs. */
  @Override
  public float[][] run(int program, float[][] inputs) {
    Program p = programs[program];
    for (int k = 0; k < inputs.length; k++) {
      ByteBuffer b = (ByteBuffer) p.in.get(p.inputNames[k]);
      b.clear();
      b.asFloatBuffer().put(inputs[k]);
    }
    for (Object o : p.out.values()) {
      ((ByteBuffer) o).rewind();
    }
    p.interpreter.runSignature(p.in, p.out);
    float[][] result = new float[p.outputNames.length][];
    for (int i = 0; i < result.length; i++) {
      ByteBuffer b = (ByteBuffer) p.out.get(p.outputNames[i]);
      b.rewind();
      result[i] = new float[b.remaining() / 4];
      b.asFloatBuffer().get(result[i]);
    }
    return result;
  }

  @Override
  public void run() {
    input.rewind();
    for (Object o : outputs.values()) {
      ((ByteBuffer) o).rewind();
    }
    interpreter.runForMultipleInputsOutputs(new Object[] {input}, outputs);
  }

  @Override
  public void close() {
    if (interpreter != null) {
      interpreter.close();
      interpreter = null;
    }
    if (programs != null) {
      for (Program p : programs) {
        if (p != null && p.interpreter != null) {
          p.interpreter.close();
        }
      }
      programs = null;
    }
    if (gpuDelegate != null) { // after the interpreter that uses it
      gpuDelegate.close();
      gpuDelegate = null;
    }
  }
}
