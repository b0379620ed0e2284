package org.mobilekit.bench.runners;

import java.io.File;
import org.mobilekit.benchcore.Manifest;
import org.mobilekit.benchcore.ModelRunner;

/**
 * Run on the JVM against the compile-only stubs (tests/test_android_runners_compile.py): which
 * runner the app picks for an artifact folder and compute units, or why it refuses. Prints
 * "runner CLASS" or "refused MESSAGE". Only constructors run, which call no library.
 *
 * <pre>java ... RunnerChoice ARTIFACT_DIR COMPUTE_UNITS</pre>
 */
public final class RunnerChoice {
  private RunnerChoice() {}

  public static void main(String[] args) throws Exception {
    Manifest manifest = Manifest.load(new File(args[0]));
    try {
      ModelRunner runner = new Runners().create(manifest, args[1]);
      String gpu = runner instanceof LiteRtRunner && ((LiteRtRunner) runner).gpu ? " gpu" : "";
      System.out.println("runner " + runner.getClass().getSimpleName() + gpu);
    } catch (IllegalArgumentException e) {
      System.out.println("refused " + e.getMessage());
    }
  }
}
