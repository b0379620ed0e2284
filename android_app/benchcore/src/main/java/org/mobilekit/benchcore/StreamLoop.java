package org.mobilekit.benchcore;

import java.util.Arrays;
import java.util.List;

/**
 * A streaming artifact run one frame at a time through a {@link ModelRunner}'s programs, as the
 * host's converters/streaming.py Stream does.
 *
 * <ul>
 *   <li>state: the step takes {@code (frame, *state)} and gives {@code (logits, *state_out)};
 *       each state input starts as zeros and is fed the output named {@code <name>_out} of
 *       the step before (matched by the manifest's names, not by position).
 *   <li>frame-cache: the encoder turns each frame into its tokens, kept in a ring buffer of
 *       {@code window} slots; once full, the head runs over them oldest first, concatenated
 *       along axis 1 ({@code (B, 1, ...)} each -> {@code (B, window, ...)}).
 * </ul>
 */
public final class StreamLoop {
  private final Manifest.Streaming spec;
  private final ModelRunner runner;
  // state form: the step's inputs (frame first), and where each state comes back in its outputs
  private final float[][] stepInputs;
  private final int[] stateOut;
  private final int logitsOut;
  // frame-cache form: the ring of token tensors and the head's input assembled from it
  private final float[][] ring;
  private final float[] headInput;
  private final int batch;
  private int next;
  private long frames;

  public StreamLoop(Manifest.Streaming spec, ModelRunner runner) {
    this.spec = spec;
    this.runner = runner;
    Manifest.Program first = spec.programs.get(0);
    if (Manifest.Streaming.STATE.equals(spec.mode)) {
      List<Manifest.TensorSpec> state = spec.state;
      stepInputs = new float[1 + state.size()][];
      stateOut = new int[state.size()];
      boolean[] isState = new boolean[first.outputs.size()];
      for (int i = 0; i < state.size(); i++) {
        stateOut[i] = first.outputIndex(state.get(i).name + "_out");
        isState[stateOut[i]] = true;
      }
      int logits = 0;
      while (logits < isState.length && isState[logits]) {
        logits++;
      }
      logitsOut = logits; // the first output that is not a state: the schema puts it first
      ring = null;
      headInput = null;
      batch = 1;
    } else {
      stepInputs = null;
      stateOut = null;
      logitsOut = 0;
      ring = new float[spec.window][];
      headInput = new float[spec.programs.get(1).inputs.get(0).numel()];
      batch = (int) first.outputs.get(0).shape[0];
    }
    reset();
  }

  /** A fresh stream: zeros for every state, an empty ring buffer. */
  public void reset() {
    if (stepInputs != null) {
      for (int i = 0; i < spec.state.size(); i++) {
        stepInputs[i + 1] = new float[spec.state.get(i).numel()];
      }
    } else {
      Arrays.fill(ring, null);
    }
    next = 0;
    frames = 0;
  }

  /** Frames pushed since the last reset. */
  public long frames() {
    return frames;
  }

  /**
   * One new frame (float32, the manifest's input shape, flattened): its logits, or null while
   * the frame cache fills (the first {@code window - 1} frames).
   */
  public float[] push(float[] frame) throws Exception {
    frames++;
    if (stepInputs != null) {
      stepInputs[0] = frame;
      float[][] out = runner.run(0, stepInputs);
      for (int i = 0; i < stateOut.length; i++) {
        stepInputs[i + 1] = out[stateOut[i]];
      }
      stepInputs[0] = null;
      return out[logitsOut];
    }
    ring[next] = runner.run(0, new float[][] {frame})[0];
    next = (next + 1) % ring.length;
    if (ring[next] == null) {
      return null; // not full yet: the oldest slot is still empty
    }
    int window = ring.length;
    int block = ring[0].length / batch; // one frame's tokens of one batch row
    for (int k = 0; k < window; k++) {
      float[] tokens = ring[(next + k) % window]; // next is the oldest slot once full
      for (int b = 0; b < batch; b++) {
        System.arraycopy(tokens, b * block, headInput, (b * window + k) * block, block);
      }
    }
    return runner.run(1, new float[][] {headInput})[0];
  }
}
