package org.mobilekit.bench.runners;

import org.mobilekit.benchcore.ModelRunner;

/**
 * Run on the JVM against the compile-only stubs (tests/test_android_runners_compile.py): prints
 * "runtime runtimeVersion" per runner and closes each one unloaded. Every stub method throws, so
 * a runner that calls its library outside load()/run() (where the benchmark catches failures,
 * native ones included) fails here instead of crashing the app's benchmark thread.
 */
public final class RunnerIdentity {
  private RunnerIdentity() {}

  public static void main(String[] args) {
    ModelRunner[] runners = {new ExecuTorchRunner(), new PyTorchLiteRunner(),
        new LiteRtRunner(false), new LiteRtRunner(true)};
    for (ModelRunner r : runners) {
      System.out.println(r.runtime() + " " + r.runtimeVersion());
      r.close();
    }
  }
}
