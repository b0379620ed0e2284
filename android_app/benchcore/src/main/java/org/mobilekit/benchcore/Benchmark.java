package org.mobilekit.benchcore;

import java.io.File;

/**
 * The benchmark loop: load (timed), one first inference (timed on its own: it includes lazy
 * initialisation, e.g. XNNPACK packing weights), warm-up runs (untimed), then timed runs, each
 * measured with System.nanoTime around the runner's run() alone.
 */
public final class Benchmark {
  private Benchmark() {}

  /** Reads the process's memory in MiB (Android: PSS), or returns a negative number if unknown. */
  public interface MemoryProbe {
    double currentMb();
  }

  /** Reports progress to a UI; called from the benchmark thread. */
  public interface Progress {
    void onPhase(String phase, int done, int total);
  }

  public static final class Result {
    public final double loadMs;
    public final double firstInferenceMs;
    public final double[] latenciesMs;
    public final LatencyStats stats;
    /** Highest memory reading during the run, or null when no probe was given. */
    public final Double peakMemoryMb;
    /** The check set's numerics block ({@link CheckSet#compare}), or null when not checked. */
    public java.util.Map<String, Object> numerics;
    /** A streaming run's form (state or frame-cache), or null for a clip run. */
    public String streamMode;
    /** frame-cache: the ring buffer's frames; 0 otherwise. */
    public int window;
    /** Frames pushed in all: the first, the warm-up (at least the ring's fill) and the timed. */
    public long frames;

    Result(double loadMs, double firstInferenceMs, double[] latenciesMs, Double peakMemoryMb) {
      this.loadMs = loadMs;
      this.firstInferenceMs = firstInferenceMs;
      this.latenciesMs = latenciesMs;
      this.stats = LatencyStats.of(latenciesMs);
      this.peakMemoryMb = peakMemoryMb;
    }
  }

  /** A failure in one phase; the message starts with the phase, like "load failed: ...". */
  public static final class BenchmarkException extends Exception {
    public BenchmarkException(String phase, Throwable cause) {
      super(phase + " failed: " + describe(cause), cause);
    }

    private static String describe(Throwable t) {
      String msg = t.getMessage();
      return msg == null || msg.isEmpty() ? t.getClass().getSimpleName() : msg;
    }
  }

  public static Result run(ModelRunner runner, File modelFile, InputTensor input,
      RunConfig config, MemoryProbe memory, Progress progress) throws BenchmarkException {
    return run(runner, modelFile, input, config, memory, progress, null, null);
  }

  /**
   * As above, and between the first inference and the warm-up, the check set: every clip once
   * through a {@link CheckingRunner} ({@code checkError}: why the check set could not be read).
   */
  public static Result run(ModelRunner runner, File modelFile, InputTensor input,
      RunConfig config, MemoryProbe memory, Progress progress, CheckSet checkSet,
      String checkError) throws BenchmarkException {
    double[] peak = {-1};
    java.util.Map<String, Object> numerics = null;
    long t0 = System.nanoTime();
    try {
      runner.load(modelFile, input, config.threads);
    } catch (Exception | LinkageError e) { // LinkageError: a missing native library
      throw new BenchmarkException("load", e);
    }
    double loadMs = (System.nanoTime() - t0) / 1e6;
    sample(memory, peak);

    double firstMs;
    try {
      long t1 = System.nanoTime();
      runner.run();
      firstMs = (System.nanoTime() - t1) / 1e6;
      sample(memory, peak);
      if (runner instanceof CheckingRunner) {
        numerics = check((CheckingRunner) runner, checkSet, checkError);
      }
      for (int i = 0; i < config.warmup; i++) {
        if (progress != null) {
          progress.onPhase("warmup", i, config.warmup);
        }
        runner.run();
      }
    } catch (Exception e) {
      throw new BenchmarkException("inference", e);
    }

    double[] latencies = new double[config.iterations];
    try {
      for (int i = 0; i < config.iterations; i++) {
        if (progress != null) {
          progress.onPhase("timed", i, config.iterations);
        }
        long start = System.nanoTime();
        runner.run();
        latencies[i] = (System.nanoTime() - start) / 1e6;
      }
    } catch (Exception e) {
      throw new BenchmarkException("inference", e);
    }
    sample(memory, peak);
    if (progress != null) {
      progress.onPhase("done", config.iterations, config.iterations);
    }
    Result result = new Result(loadMs, firstMs, latencies, peak[0] >= 0 ? peak[0] : null);
    result.numerics = numerics;
    return result;
  }

  /**
   * A streaming artifact ({@link StreamLoop}): load every program (timed), the first frame
   * (timed apart), warm-up frames (at least {@code window - 1}, so every timed frame runs the
   * head over a full ring buffer), then {@code iterations} timed frames, each one new frame:
   * the step with its state fed back, or the encoder plus the head. The same fixed frame is
   * pushed every time (latency does not depend on its values).
   */
  public static Result runStream(ModelRunner runner, File[] files, Manifest.Streaming spec,
      InputTensor frame, RunConfig config, MemoryProbe memory, Progress progress)
      throws BenchmarkException {
    double[] peak = {-1};
    long t0 = System.nanoTime();
    StreamLoop loop;
    try {
      runner.loadPrograms(files, spec.programs, config.threads);
      loop = new StreamLoop(spec, runner);
    } catch (Exception | LinkageError e) { // LinkageError: a missing native library
      throw new BenchmarkException("load", e);
    }
    double loadMs = (System.nanoTime() - t0) / 1e6;
    sample(memory, peak);
    double firstMs;
    double[] latencies = new double[config.iterations];
    try {
      long t1 = System.nanoTime();
      loop.push(frame.data);
      firstMs = (System.nanoTime() - t1) / 1e6;
      sample(memory, peak);
      int warmup = Math.max(config.warmup, spec.window - 1);
      for (int i = 0; i < warmup; i++) {
        if (progress != null) {
          progress.onPhase("warmup", i, warmup);
        }
        loop.push(frame.data);
      }
      for (int i = 0; i < config.iterations; i++) {
        if (progress != null) {
          progress.onPhase("timed", i, config.iterations);
        }
        long start = System.nanoTime();
        float[] logits = loop.push(frame.data);
        latencies[i] = (System.nanoTime() - start) / 1e6;
        if (logits == null) {
          throw new IllegalStateException("the stream gave no logits on a full ring buffer");
        }
      }
    } catch (Exception e) {
      throw new BenchmarkException("inference", e);
    }
    sample(memory, peak);
    if (progress != null) {
      progress.onPhase("done", config.iterations, config.iterations);
    }
    Result result = new Result(loadMs, firstMs, latencies, peak[0] >= 0 ? peak[0] : null);
    result.streamMode = spec.mode;
    result.window = spec.window;
    result.frames = loop.frames();
    return result;
  }

  private static java.util.Map<String, Object> check(CheckingRunner runner, CheckSet checkSet,
      String checkError) {
    if (checkSet == null) {
      return CheckSet.error(checkError != null ? checkError : "no check set was given");
    }
    try {
      return checkSet.check(runner::outputs);
    } catch (Exception e) {
      String msg = e.getMessage();
      return CheckSet.error("the runtime failed on a check-set clip: "
          + (msg == null || msg.isEmpty() ? e.getClass().getSimpleName() : msg));
    }
  }

  private static void sample(MemoryProbe memory, double[] peak) {
    if (memory != null) {
      peak[0] = Math.max(peak[0], memory.currentMb());
    }
  }
}
