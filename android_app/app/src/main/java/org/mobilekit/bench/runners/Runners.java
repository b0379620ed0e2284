package org.mobilekit.bench.runners;

import org.mobilekit.benchcore.BenchmarkSession;
import org.mobilekit.benchcore.Manifest;
import org.mobilekit.benchcore.ModelRunner;

/** The runner for a manifest's runtime: the three CPU runtimes this app embeds. */
public final class Runners implements BenchmarkSession.RunnerFactory {
  @Override
  public ModelRunner create(Manifest manifest) {
    switch (manifest.runtime) {
      case "executorch":
        if ("coreml".equals(manifest.delegate)) {
          throw new IllegalArgumentException("target " + manifest.target + " uses the Core ML "
              + "delegate, which runs only on Apple devices; convert with --target xnnpack");
        }
        return new ExecuTorchRunner();
      case "pytorch-lite":
        return new PyTorchLiteRunner();
      case "litert":
        return new LiteRtRunner();
      default:
        throw new IllegalArgumentException("runtime " + manifest.runtime + " (target "
            + manifest.target + ") does not run on Android; convert with --target xnnpack, "
            + "ptl or tflite");
    }
  }
}
