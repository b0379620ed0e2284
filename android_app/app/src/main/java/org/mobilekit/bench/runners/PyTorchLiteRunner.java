package org.mobilekit.bench.runners;

import java.io.File;
import java.util.List;
import org.mobilekit.bench.BuildConfig;
import org.mobilekit.benchcore.InputTensor;
import org.mobilekit.benchcore.CheckingRunner;
import org.mobilekit.benchcore.Manifest;
import org.pytorch.IValue;
import org.pytorch.LiteModuleLoader;
import org.pytorch.Module;
import org.pytorch.PyTorchAndroid;
import org.pytorch.Tensor;

/**
 * .ptl through the legacy PyTorch Lite interpreter (org.pytorch:pytorch_android_lite); it also
 * runs the artifact's check set ({@link CheckingRunner}) and streaming artifacts (one module per
 * program; forward takes several tensors and returns a tuple for several outputs).
 */
public final class PyTorchLiteRunner implements CheckingRunner {
  private Module module;
  private IValue input;
  private long[] shape;
  private Module[] programs;
  private long[][][] programShapes;

  @Override
  public String runtime() {
    return "pytorch-lite";
  }

  @Override
  public String runtimeVersion() {
    return BuildConfig.PYTORCH_LITE_VERSION;
  }

  @Override
  public void load(File modelFile, InputTensor in, int threads) {
    if (threads > 0) {
      // Process-wide. Present in the lite AAR: in 1.13.1 libpytorch_jni_lite's JNI_OnLoad
      // registers PyTorchAndroid.nativeSetNumThreads (common_registerNatives). It throws for < 1.
      PyTorchAndroid.setNumThreads(threads);
    }
    module = LiteModuleLoader.load(modelFile.getAbsolutePath());
    shape = in.shape.clone();
    input = IValue.from(Tensor.fromBlob(in.data, shape));
  }

  @Override
  public void loadPrograms(File[] files, List<Manifest.Program> specs, int threads) {
    if (threads > 0) {
      PyTorchAndroid.setNumThreads(threads); // process-wide, as in load()
    }
    programs = new Module[files.length];
    programShapes = new long[files.length][][];
    for (int i = 0; i < files.length; i++) {
      programs[i] = LiteModuleLoader.load(files[i].getAbsolutePath());
      programShapes[i] = specs.get(i).inputShapes();
    }
  }

  /** One program of a streaming artifact on several inputs; a tuple output read in order. */
  @Override
  public float[][] run(int program, float[][] inputs) {
    IValue[] in = new IValue[inputs.length];
    for (int k = 0; k < inputs.length; k++) {
      in[k] = IValue.from(Tensor.fromBlob(inputs[k], programShapes[program][k]));
    }
    IValue out = programs[program].forward(in);
    IValue[] outs = out.isTuple() ? out.toTuple() : new IValue[] {out};
    float[][] result = new float[outs.length][];
    for (int i = 0; i < outs.length; i++) {
      result[i] = outs[i].toTensor().getDataAsFloatArray();
    }
    return result;
  }

  @Override
  public void run() {
    module.forward(input);
  }

  /** One check-set clip; a tuple output (named heads) is read in order, each as float32. */
  @Override
  public float[][] outputs(float[] clip) {
    IValue out = module.forward(IValue.from(Tensor.fromBlob(clip, shape)));
    IValue[] outs = out.isTuple() ? out.toTuple() : new IValue[] {out};
    float[][] result = new float[outs.length][];
    for (int i = 0; i < outs.length; i++) {
      result[i] = outs[i].toTensor().getDataAsFloatArray();
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
