package org.mobilekit.benchcore;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An artifact's check set (layout: mobilekit/artifact/checkset.py): N input clips and the
 * expected outputs, little-endian float32 (labels int32), indexed by the manifest's
 * {@code check_set}. {@link #read} verifies every file's size and sha256; {@link #compare}
 * computes the report's {@code numerics} block exactly as the Python reference does (max / mean
 * abs diff, lowest per-clip cosine, top-1 agreement, accuracy, the tolerance verdict).
 */
public final class CheckSet {
  /** The check set cannot be read: missing, truncated, or not the bytes its manifest hashed. */
  public static final class CheckSetException extends Exception {
    public CheckSetException(String message) {
      super(message);
    }
  }

  /** One runtime's outputs for one clip, in the manifest's output order. */
  public interface Outputs {
    float[][] run(float[] clip) throws Exception;
  }

  public final int count;
  /** inputs[i]: clip i, flattened (C order). */
  public final float[][] inputs;
  /** expected[k][i]: output k of clip i, flattened. */
  public final float[][][] expected;
  /** Per output, the rows (batch size) of one clip's output: argmax is taken per row. */
  public final int[] rows;
  public final int[] labels;
  public final Map<String, Object> tolerance;

  private CheckSet(int count, float[][] inputs, float[][][] expected, int[] rows, int[] labels,
      Map<String, Object> tolerance) {
    this.count = count;
    this.inputs = inputs;
    this.expected = expected;
    this.rows = rows;
    this.labels = labels;
    this.tolerance = tolerance;
  }

  @SuppressWarnings("unchecked")
  public static CheckSet read(File artifactDir, Manifest manifest) throws CheckSetException {
    Object cs = manifest.raw.get("check_set");
    if (!(cs instanceof Map)) {
      throw new CheckSetException(
          "the artifact has no check set (its manifest has no check_set); re-convert it");
    }
    Map<String, Object> m = (Map<String, Object>) cs;
    int n = (int) (long) (Long) m.get("count");
    float[][] inputs = floats(load(artifactDir, (Map<String, Object>) m.get("input")), n);
    List<Object> outs = (List<Object>) m.get("outputs");
    float[][][] expected = new float[outs.size()][][];
    int[] rows = new int[outs.size()];
    for (int k = 0; k < outs.size(); k++) {
      Map<String, Object> entry = (Map<String, Object>) outs.get(k);
      expected[k] = floats(load(artifactDir, entry), n);
      List<Object> shape = (List<Object>) entry.get("shape");
      rows[k] = shape.size() > 2 ? (int) (long) (Long) shape.get(1) : 1;
    }
    int[] labels = null;
    Object lab = m.get("labels");
    if (lab instanceof Map) {
      ByteBuffer b = load(artifactDir, (Map<String, Object>) lab);
      labels = new int[n];
      for (int i = 0; i < n; i++) {
        labels[i] = b.getInt();
      }
    }
    return new CheckSet(n, inputs, expected, rows, labels,
        (Map<String, Object>) m.get("tolerance"));
  }

  private static ByteBuffer load(File dir, Map<String, Object> entry) throws CheckSetException {
    String rel = (String) entry.get("file");
    if (rel.startsWith("/") || rel.contains("\\") || ("/" + rel + "/").contains("/../")) {
      throw new CheckSetException("check set file " + rel + " is outside the artifact folder");
    }
    File f = new File(dir, rel);
    if (!f.isFile()) {
      throw new CheckSetException("check set file " + rel + " is missing; copy the whole artifact"
          + " folder (checkset/ included)");
    }
    long want = (Long) entry.get("bytes");
    if (f.length() != want) {
      throw new CheckSetException("check set file " + rel + " is truncated or padded ("
          + f.length() + " bytes, the manifest says " + want + ")");
    }
    byte[] data;
    try {
      data = Files.readAllBytes(f.toPath());
    } catch (IOException e) {
      throw new CheckSetException("cannot read check set file " + rel + ": " + e.getMessage());
    }
    if (!Sha256.of(data).equals(entry.get("sha256"))) {
      throw new CheckSetException("check set file " + rel
          + " does not match the manifest's sha256");
    }
    return ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
  }

  private static float[][] floats(ByteBuffer b, int n) {
    int per = b.remaining() / 4 / n;
    float[][] out = new float[n][per];
    for (int i = 0; i < n; i++) {
      b.asFloatBuffer().get(out[i]);
      b.position(b.position() + per * 4);
    }
    return out;
  }

  /** Every clip once through {@code runner}, compared: the report's numerics block. */
  public Map<String, Object> check(Outputs runner) throws Exception {
    float[][][] got = new float[count][][];
    for (int i = 0; i < count; i++) {
      got[i] = runner.run(inputs[i]);
    }
    return compare(got);
  }

  /** The numerics block of a check set that could not be run. */
  public static Map<String, Object> error(String detail) {
    Map<String, Object> m = numerics("error", detail, 0, null);
    return m;
  }

  private static Map<String, Object> numerics(String status, String detail, int samples,
      String rule) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("status", status);
    m.put("detail", detail);
    m.put("samples", (long) samples);
    m.put("rule", rule);
    m.put("max_abs_diff", null);
    m.put("mean_abs_diff", null);
    m.put("cosine", null);
    m.put("top1_agreement", null);
    m.put("accuracy", null);
    m.put("reference_accuracy", null);
    return m;
  }

  /** got[i][k]: output k of clip i, flattened. */
  public Map<String, Object> compare(float[][][] got) {
    String rule = (String) tolerance.get("rule");
    Map<String, Object> out = numerics("disagrees", null, count, rule);
    if (got.length != count) {
      out.put("detail", got.length + " clips of outputs for " + count + " clips");
      return out;
    }
    for (float[][] g : got) {
      boolean ok = g.length == expected.length;
      for (int k = 0; ok && k < g.length; k++) {
        ok = g[k].length == expected[k][0].length;
      }
      if (!ok) {
        out.put("detail", "output sizes differ from the expected outputs");
        return out;
      }
    }
    double[] clipMax = new double[count];
    double minCos = Double.POSITIVE_INFINITY;
    double sum = 0;
    long values = 0;
    long agree = 0;
    long compared = 0;
    for (int i = 0; i < count; i++) {
      double max = 0;
      double dot = 0;
      double gg = 0;
      double ww = 0;
      boolean gAny = false;
      boolean wAny = false;
      for (int k = 0; k < expected.length; k++) {
        float[] g = got[i][k];
        float[] w = expected[k][i];
        for (int j = 0; j < g.length; j++) {
          double a = g[j];
          double b = w[j];
          double d = (a == b || (Double.isNaN(a) && Double.isNaN(b))) ? 0.0 : Math.abs(a - b);
          max = Double.isNaN(d) || Double.isNaN(max) ? Double.NaN : Math.max(max, d);
          sum += d;
          values++;
          dot += a * b;
          gg += a * a;
          ww += b * b;
          gAny |= a != 0;
          wAny |= b != 0;
        }
        int r = rows[k];
        int per = w.length / r;
        for (int row = 0; row < r; row++) {
          if (argmax(g, row * per, per) == argmax(w, row * per, per)) {
            agree++;
          }
          compared++;
        }
      }
      clipMax[i] = max;
      double norm = Math.sqrt(gg) * Math.sqrt(ww);
      double cos = norm > 0 ? dot / norm : (!gAny && !wAny ? 1.0 : 0.0);
      if (!Double.isNaN(cos) && !Double.isInfinite(cos)) {
        cos = Math.min(1.0, Math.max(-1.0, cos)); // rounding past +-1
      }
      minCos = Double.isNaN(cos) || Double.isNaN(minCos) ? Double.NaN : Math.min(minCos, cos);
    }
    double maxAll = 0;
    for (double d : clipMax) {
      maxAll = Double.isNaN(d) || Double.isNaN(maxAll) ? Double.NaN : Math.max(maxAll, d);
    }
    double top1 = (double) agree / compared;
    out.put("max_abs_diff", finite(maxAll));
    out.put("mean_abs_diff", finite(sum / values));
    out.put("cosine", finite(minCos));
    out.put("top1_agreement", top1);
    if (labels != null) {
      int hits = 0;
      int refHits = 0;
      int per0 = expected[0][0].length / rows[0];
      for (int i = 0; i < count; i++) {
        hits += argmax(got[i][0], 0, per0) == labels[i] ? 1 : 0;
        refHits += argmax(expected[0][i], 0, per0) == labels[i] ? 1 : 0;
      }
      out.put("accuracy", (double) hits / count);
      out.put("reference_accuracy", (double) refHits / count);
    }
    String detail = null;
    if ("max_abs_diff".equals(rule)) {
      @SuppressWarnings("unchecked")
      List<Object> bounds = (List<Object>) tolerance.get("max_abs_diff");
      List<Integer> over = new ArrayList<>();
      for (int i = 0; i < count; i++) {
        double t = ((Number) bounds.get(i)).doubleValue();
        if (!(Double.isFinite(clipMax[i]) && clipMax[i] <= t)) {
          over.add(i);
        }
      }
      if (!over.isEmpty()) {
        int i = over.get(0);
        detail = String.format("clip %d: max abs diff %.3g > tolerance %.3g", i, clipMax[i],
            ((Number) bounds.get(i)).doubleValue());
        if (over.size() > 1) {
          detail += " (" + over.size() + " of " + count + " clips over)";
        }
      }
    } else {
      double minTop1 = ((Number) tolerance.get("min_top1_agreement")).doubleValue();
      double minCosine = ((Number) tolerance.get("min_cosine")).doubleValue();
      if (top1 < minTop1) {
        detail = String.format("top-1 agreement %.2f < %s", top1, minTop1);
      } else if (!Double.isFinite(minCos) || minCos < minCosine) {
        detail = String.format("cosine %.4f < %s", minCos, minCosine);
      }
    }
    out.put("detail", detail);
    out.put("status", detail == null ? "agrees" : "disagrees");
    return out;
  }

  private static Double finite(double v) {
    return Double.isFinite(v) ? v : null;
  }

  /** Index of the first largest value (numpy's argmax). */
  static int argmax(float[] a, int from, int len) {
    int best = 0;
    for (int j = 1; j < len; j++) {
      if (a[from + j] > a[from + best]) {
        best = j;
      }
    }
    return best;
  }
}
