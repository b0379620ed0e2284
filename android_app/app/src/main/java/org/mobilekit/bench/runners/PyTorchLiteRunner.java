package org.mobilekit.bench.runners;

import java.io.File;
import org.mobilekit.bench.BuildConfig;
import org.mobilekit.benchcore.InputTensor;
import org.mobilekit.benchcore.CheckingRunner;
import org.pytorch.IValue;
import org.pytorch.LiteModuleLoader;
import org.pytorch.Module;
import org.pytorch.PyTorchAndroid;
import org.pytorch.Tensor;

/**
 * .ptl through the legacy PyTorch Lite interpreter (org.pytorch:pytorch_android_lite); it also
 * runs the artifact's check set ({@link CheckingRunner}).
 */
public final class PyTorchLiteRunner implements CheckingRunner {
  private Module module;
  private IValue input;
  private long[] shape;

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
  }
}
