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

  @Override
  void close();
}
