package org.mobilekit.bench.runners;

import org.mobilekit.bench.BuildConfig;
import org.mobilekit.benchcore.BenchmarkSession;
import org.mobilekit.benchcore.Manifest;
import org.mobilekit.benchcore.ModelRunner;

/**
 * The runner for a manifest's runtime and compute units: the runtimes this app embeds, on the
 * CPU, plus two GPU paths: LiteRT's GPU delegate for any .tflite ("gpu", asked for with
 * `mobilekit android run --compute-unit gpu`) and ExecuTorch's Vulkan delegate for a .pte
 * lowered for it (the vulkan target, whose manifest says "gpu").
 */
public final class Runners implements BenchmarkSession.RunnerFactory {
  /** The message when a Vulkan .pte meets an ExecuTorch AAR built without the Vulkan backend. */
  static final String NO_VULKAN = "the app's ExecuTorch AAR (org.pytorch:executorch-android "
      + BuildConfig.EXECUTORCH_VERSION + ") is built without the Vulkan backend "
      + "(EXECUTORCH_BUILD_VULKAN=OFF), so VulkanBackend is not registered; rebuild the app "
      + "with the Vulkan AAR: ./gradlew -PexecutorchFlavor=vulkan installDebug "
      + "(org.pytorch:executorch-android-vulkan)";

  @Override
  public ModelRunner create(Manifest manifest, String computeUnits) {
    switch (manifest.runtime) {
      case "executorch":
        if ("coreml".equals(manifest.delegate)) {
          throw new IllegalArgumentException("target " + manifest.target + " uses the Core ML "
              + "delegate, which runs only on Apple devices; convert with --target xnnpack");
        }
        requireOwn(manifest, computeUnits);
        if ("vulkan".equals(manifest.delegate) && !BuildConfig.EXECUTORCH_VULKAN) {
          throw new IllegalArgumentException("target " + manifest.target + " needs ExecuTorch's "
              + "Vulkan backend: " + NO_VULKAN);
        }
        return new ExecuTorchRunner();
      case "pytorch-lite":
        requireOwn(manifest, computeUnits);
        return new PyTorchLiteRunner();
      case "litert":
        if (!"cpu".equals(computeUnits) && !"gpu".equals(computeUnits)) {
          throw new IllegalArgumentException("compute units " + computeUnits + " are not "
              + "available for LiteRT in this app; use cpu or gpu (its GPU delegate)");
        }
        return new LiteRtRunner("gpu".equals(computeUnits));
      default:
        throw new IllegalArgumentException("runtime " + manifest.runtime + " (target "
            + manifest.target + ") does not run on Android; convert with --target xnnpack, "
            + "ptl or tflite");
    }
  }

  /** The .pte / .ptl was made for one place to run: the manifest's compute units. */
  private static void requireOwn(Manifest manifest, String computeUnits) {
    if (!manifest.computeUnits.equals(computeUnits)) {
      throw new IllegalArgumentException("target " + manifest.target + " runs on "
          + manifest.computeUnits + " only, not " + computeUnits + "; convert for a target that "
          + "runs there (LiteRT's .tflite takes cpu or gpu)");
    }
  }
}
