package org.mobilekit.benchcore;

import java.io.File;

/**
 * One on-device runtime (ExecuTorch, PyTorch Lite, LiteRT, ...) seen by the benchmark loop.
 * The Android app implements it once per runtime; the loop times the calls, so an
 * implementation does the work and nothing else (no timing, no logging in run()).
 */
public interface ModelRunner extends AutoCloseable {
  /** The wire name of the runtime: executorch, pytorch-lite, litert (see wire.py RUNTIMES). */
  String runtime();

  /** The runtime library's version, e.g. "1.5.1". */
  String runtimeVersion();

  /**
   * Loads the model file and prepares the input, so that run() does only inference. The
   * benchmark times this call as load_ms.
   *
   * @param threads CPU threads for the runtime, or 0 for its default
   */
  void load(File modelFile, InputTensor input, int threads) throws Exception;

  /** One inference on the prepared input. */
  void run() throws Exception;

  /**
   * Streaming artifacts ({@link Manifest.Streaming}): loads every program (the step, or the
   * encoder and the head), each taking the inputs and giving the outputs its entry lists. The
   * benchmark times this call as load_ms, in place of load(). A runner that keeps this default
   * runs clip artifacts only; a stream then fails as "load failed: ..." in its report.
   *
   * @param files the programs' files, in the manifest's order
   * @param threads CPU threads for the runtime, or 0 for its default
   */
  default void loadPrograms(File[] files, java.util.List<Manifest.Program> programs, int threads)
      throws Exception {
    throw new UnsupportedOperationException(runtime() + " runner does not run streaming artifacts "
        + "(several programs, inputs and outputs)");
  }

  /**
   * One call of a program loaded by loadPrograms(): {@code inputs} in its input order, each
   * float32 flattened in the manifest's shape; returns its outputs in its output order, each
   * flattened float32. The stream loop times it; an implementation only runs it.
   */
  default float[][] run(int program, float[][] inputs) throws Exception {
    throw new UnsupportedOperationException(runtime() + " runner does not run streaming artifacts");
  }

  @Override
  void close();
}
