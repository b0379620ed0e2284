package org.mobilekit.bench.runners;

import java.io.File;
import java.util.List;
import org.mobilekit.bench.BuildConfig;
import org.mobilekit.benchcore.InputTensor;
import org.mobilekit.benchcore.CheckingRunner;
import org.mobilekit.benchcore.Manifest;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.ExecutorchRuntimeException;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * .pte through ExecuTorch (org.pytorch:executorch-android): the XNNPACK delegate on the CPU, or
 * the Vulkan delegate on the GPU (target vulkan) when the app is built with the Vulkan AAR
 * (-PexecutorchFlavor=vulkan; Runners refuses a Vulkan .pte otherwise). The same Module API
 * loads both: the program names its delegate and the runtime looks it up. It also runs the
 * artifact's check set ({@link CheckingRunner}) and streaming artifacts: one Module per program
 * (the step, or the encoder and the head), each forward() taking several tensors.
 */
public final class ExecuTorchRunner implements CheckingRunner {
  private Module module;
  private EValue input;
  private long[] shape;
  private Module[] programs;
  private long[][][] programShapes;

  @Override
  public String runtime() {
    return "executorch";
  }

  @Override
  public String runtimeVersion() {
    return BuildConfig.EXECUTORCH_VERSION;
  }

  @Override
  public void load(File modelFile, InputTensor in, int threads) {
    // mmap: the program's weights are paged in, not copied (as the runtime's own benchmark does)
    module = open(modelFile, threads);
    shape = in.shape.clone();
    input = EValue.from(Tensor.fromBlob(in.data, shape));
  }

  private static Module open(File file, int threads) {
    Module m = Module.load(file.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
    // Load the method now, so that load_ms holds it and the first forward() does not. Since
    // ExecuTorch 1.3 loadMethod returns nothing and throws, its message naming the error code.
    try {
      m.loadMethod("forward");
    } catch (ExecutorchRuntimeException e) {
      m.destroy();
      throw new IllegalStateException("loading method forward of " + file.getName() + ": "
          + e.getMessage() + " (the .pte needs a newer runtime or an operator this build lacks; "
          + "see logcat tag ExecuTorch)", e);
    }
    return m;
  }

  @Override
  public void loadPrograms(File[] files, List<Manifest.Program> specs, int threads) {
    programs = new Module[files.length];
    programShapes = new long[files.length][][];
    for (int i = 0; i < files.length; i++) {
      programs[i] = open(files[i], threads);
      programShapes[i] = specs.get(i).inputShapes();
    }
  }

  /** One program of a streaming artifact on several inputs; every output read as float32. */
  @Override
  public float[][] run(int program, float[][] inputs) {
    EValue[] in = new EValue[inputs.length];
    for (int k = 0; k < inputs.length; k++) {
      in[k] = EValue.from(Tensor.fromBlob(inputs[k], programShapes[program][k]));
    }
    EValue[] out = programs[program].forward(in);
    float[][] result = new float[out.length][];
    for (int i = 0; i < out.length; i++) {
      result[i] = out[i].toTensor().getDataAsFloatArray();
    }
    return result;
  }

  @Override
  public void run() {
    EValue[] out = module.forward(input);
    if (out.length == 0) {
      throw new IllegalStateException("forward returned no outputs (see logcat tag ExecuTorch)");
    }
  }

  /** One check-set clip through the same method; every output read back as float32. */
  @Override
  public float[][] outputs(float[] clip) {
    EValue[] out = module.forward(EValue.from(Tensor.fromBlob(clip, shape)));
    float[][] result = new float[out.length][];
    for (int i = 0; i < out.length; i++) {
      result[i] = out[i].toTensor().getDataAsFloatArray();
    }
    return result;
  }

  @Override
  public void close() {
    if (module != null) {
      module.destroy();
      module = null;
    }
    if (programs != null) {
      for (Module m : programs) {
        if (m != null) {
          m.destroy();
        }
      }
      programs = null;
    }
  }
}
