package org.mobilekit.benchcore;

import java.io.File;
import java.nio.file.Files;

/**
 * A runner that does real work on the JVM, for testing the loop and session around it: load
 * reads the model file, run() computes a per-channel mean of the input (a stand-in for a
 * model's global pool). It counts its calls so tests can check the loop's phases.
 */
final class JvmRunner implements ModelRunner {
  int loads;
  int runs;
  boolean closed;
  float[] input;
  double checksum;
  String failLoad;
  /** Reported as if it were the phone's runtime; only the loop is tested. */
  String runtime = "executorch";

  @Override
  public String runtime() {
    return runtime;
  }

  @Override
  public String runtimeVersion() {
    return "jvm-test";
  }

  @Override
  public void load(File modelFile, InputTensor in, int threads) throws Exception {
    loads++;
    if (failLoad != null) {
      throw new IllegalStateException(failLoad);
    }
    byte[] bytes = Files.readAllBytes(modelFile.toPath());
    checksum = bytes.length;
    input = in.data;
  }

  @Override
  public void run() {
    runs++;
    double acc = 0;
    for (int rep = 0; rep < 20; rep++) {
      for (float v : input) {
        acc += v * v;
      }
    }
    checksum += acc;
  }

  @Override
  public void close() {
    closed = true;
  }
}
