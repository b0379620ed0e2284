package org.mobilekit.benchcore;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How a benchmark runs (wire.py RunConfig). computeUnits names where the runtime runs the model:
 * "cpu", or "gpu" for the GPU paths the app offers (LiteRT's GPU delegate, ExecuTorch's Vulkan
 * delegate).
 */
public final class RunConfig {
  public final String computeUnits;
  /** CPU threads given to the runtime; 0 means the runtime's default (reported as null). */
  public final int threads;
  public final int warmup;
  public final int iterations;
  public final int batchSize;

  public RunConfig(String computeUnits, int threads, int warmup, int iterations) {
    if (warmup < 0) {
      throw new IllegalArgumentException("warmup must be >= 0, got " + warmup);
    }
    if (iterations < 1) {
      throw new IllegalArgumentException("iterations must be >= 1, got " + iterations);
    }
    if (threads < 0) {
      throw new IllegalArgumentException("threads must be >= 0 (0: runtime default), got "
          + threads);
    }
    this.computeUnits = computeUnits;
    this.threads = threads;
    this.warmup = warmup;
    this.iterations = iterations;
    this.batchSize = 1;
  }

  public static RunConfig cpu(int threads, int warmup, int iterations) {
    return new RunConfig("cpu", threads, warmup, iterations);
  }

  /** The same run on other compute units. */
  public RunConfig withComputeUnits(String units) {
    return new RunConfig(units, threads, warmup, iterations);
  }

  public Map<String, Object> toJsonMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("compute_units", computeUnits);
    m.put("threads", threads > 0 ? (Object) (long) threads : null);
    m.put("warmup", (long) warmup);
    m.put("iterations", (long) iterations);
    m.put("batch_size", (long) batchSize);
    return m;
  }
}
