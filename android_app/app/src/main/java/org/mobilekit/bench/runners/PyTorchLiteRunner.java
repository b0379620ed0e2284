package org.mobilekit.bench.runners;

import java.io.File;
import org.mobilekit.bench.BuildConfig;
import org.mobilekit.benchcore.InputTensor;
import org.mobilekit.benchcore.ModelRunner;
import org.pytorch.IValue;
import org.pytorch.LiteModuleLoader;
import org.pytorch.Module;
import org.pytorch.PyTorchAndroid;
import org.pytorch.Tensor;

/** .ptl through the legacy PyTorch Lite interpreter (org.pytorch:pytorch_android_lite). */
public final class PyTorchLiteRunner implements ModelRunner {
  private Module module;
  private IValue input;

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
    input = IValue.from(Tensor.fromBlob(in.data, in.shape));
  }

  @Override
  public void run() {
    module.forward(input);
  }

  @Override
  public void close() {
    if (module != null) {
      module.destroy();
      module = null;
    }
  }
}
