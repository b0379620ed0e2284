package org.mobilekit.benchcore;

import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * Streaming "models" that do real, checkable work on the JVM, run through the multi-program
 * ModelRunner calls the way the app's runners are.
 *
 * <ul>
 *   <li>state (one program, "step"): a running sum. Inputs (frame, acc, count); outputs in
 *       another order than the state, (logits, count_out, acc_out), so only matching by name
 *       feeds them back right: acc_out = acc + frame, count_out = count + 1, logits = acc_out.
 *   <li>frame-cache (encoder, head): the encoder gives each batch row's mean of the frame as
 *       its token; the head returns its input as it got it, so a test sees the window's order.
 * </ul>
 */
final class StreamJvmRunner implements ModelRunner {
  List<Manifest.Program> programs;
  final List<float[][]> headInputs = new ArrayList<>();
  int calls;
  boolean closed;

  @Override
  public String runtime() {
    return "executorch";
  }

  @Override
  public String runtimeVersion() {
    return "jvm-test";
  }

  @Override
  public void load(File modelFile, InputTensor in, int threads) {
    throw new IllegalStateException("a streaming artifact is loaded with loadPrograms");
  }

  @Override
  public void run() {
    throw new IllegalStateException("a streaming artifact is run program by program");
  }

  @Override
  public void loadPrograms(File[] files, List<Manifest.Program> programs, int threads)
      throws Exception {
    for (File f : files) {
      Files.readAllBytes(f.toPath()); // as a runtime would: every program file is there
    }
    this.programs = programs;
  }

  @Override
  public float[][] run(int program, float[][] inputs) {
    calls++;
    Manifest.Program p = programs.get(program);
    for (int i = 0; i < inputs.length; i++) {
      if (inputs[i].length != p.inputs.get(i).numel()) {
        throw new IllegalArgumentException(p.role + " input " + p.inputs.get(i).name + " has "
            + inputs[i].length + " values, the manifest says " + p.inputs.get(i).numel());
      }
    }
    switch (p.role) {
      case "step": {
        float[] frame = inputs[0];
        float[] acc = inputs[1];
        float[] sum = new float[acc.length];
        for (int i = 0; i < sum.length; i++) {
          sum[i] = acc[i] + frame[i];
        }
        return new float[][] {sum.clone(), {inputs[2][0] + 1}, sum};
      }
      case "encoder": {
        int batch = (int) p.inputs.get(0).shape[0];
        float[] frame = inputs[0];
        int per = frame.length / batch;
        float[] tokens = new float[batch];
        for (int b = 0; b < batch; b++) {
          double s = 0;
          for (int i = 0; i < per; i++) {
            s += frame[b * per + i];
          }
          tokens[b] = (float) (s / per);
        }
        return new float[][] {tokens};
      }
      case "head":
        headInputs.add(new float[][] {inputs[0].clone()});
        return new float[][] {inputs[0].clone()};
      default:
        throw new IllegalArgumentException("no program " + p.role);
    }
  }

  @Override
  public void close() {
    closed = true;
  }
}
