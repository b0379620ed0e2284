package org.mobilekit.benchcore;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

/**
 * The fields of an artifact's manifest.json (mobilekit/collector/wire.py ArtifactManifest)
 * that the app needs: what to load, how to build its input and what to put in the report.
 * The whole parsed object stays available as {@link #raw}.
 */
public final class Manifest {
  public static final int SCHEMA_VERSION = 1;

  /** A manifest the app cannot use; the message says what is wrong and how to fix it. */
  public static final class ManifestException extends Exception {
    public ManifestException(String message) {
      super(message);
    }
  }

  /** Letters, digits, _ . - (the collector's MODEL_NAME_PATTERN): part of an artifact id. */
  private static final java.util.regex.Pattern MODEL_NAME =
      java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,99}");

  /**
   * The naming rule of every reader (mobilekit/collector/schemas/artifact_names.json): the
   * model file is one plain name inside the artifact folder, so a download can neither leave
   * the folder nor overwrite manifest.json.
   */
  public static String checkFileName(String file) throws ManifestException {
    boolean control = false;
    for (int i = 0; i < file.length(); i++) {
      char c = file.charAt(i);
      control |= c < 32 || c == 127;
    }
    if (file.isEmpty() || file.equals(".") || file.equals("..") || file.contains("/")
        || file.contains("\\") || file.equals("manifest.json") || control) {
      throw new ManifestException("manifest file \"" + file + "\" must be a plain file name "
          + "inside the artifact folder (not manifest.json); re-convert the artifact");
    }
    return file;
  }

  /** A model name the collector can put in an artifact id and URL. */
  public static String checkModelName(String model) throws ManifestException {
    if (!MODEL_NAME.matcher(model).matches()) {
      throw new ManifestException("manifest model \"" + model + "\" must be 1-100 letters, "
          + "digits, '_', '.' or '-' starting with a letter or digit; re-convert the artifact");
    }
    return model;
  }

  public final Map<String, Object> raw;
  public final String model;
  public final String family;
  public final long numClasses;
  public final String target;
  public final String runtime;
  public final String computeUnits;
  public final String delegate;
  public final String precision;
  /** quantization.scheme, or null for an unquantized artifact. */
  public final String quantization;
  public final String file;
  public final long sizeBytes;
  public final String sha256;
  public final String inputName;
  public final long[] inputShape;
  public final String inputLayout;
  public final String inputDtype;
  public final double inputScale;
  public final double[] inputMean;
  public final double[] inputStd;
  public final String frameSampling;
  /** The streaming block (`mobilekit convert --streaming`), or null for a clip artifact. */
  public final Streaming streaming;

  /** A named float32 tensor of a streaming program or state (shape static). */
  public static final class TensorSpec {
    public final String name;
    public final long[] shape;

    TensorSpec(String name, long[] shape) {
      this.name = name;
      this.shape = shape;
    }

    /** Elements in the tensor. */
    public int numel() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return (int) n;
    }
  }

  /** One program of a streaming artifact: the step, or the encoder or the head. */
  public static final class Program {
    public final String role;
    public final String file;
    public final long sizeBytes;
    public final String sha256;
    /** In call order. */
    public final List<TensorSpec> inputs;
    /** In the program's order. */
    public final List<TensorSpec> outputs;

    Program(String role, String file, long sizeBytes, String sha256, List<TensorSpec> inputs,
        List<TensorSpec> outputs) {
      this.role = role;
      this.file = file;
      this.sizeBytes = sizeBytes;
      this.sha256 = sha256;
      this.inputs = inputs;
      this.outputs = outputs;
    }

    /** Each input's shape, in call order (copies: a runner may keep them). */
    public long[][] inputShapes() {
      long[][] shapes = new long[inputs.size()][];
      for (int k = 0; k < shapes.length; k++) {
        shapes[k] = inputs.get(k).shape.clone();
      }
      return shapes;
    }

    /** Index of the output called {@code name}, or -1. */
    public int outputIndex(String name) {
      for (int i = 0; i < outputs.size(); i++) {
        if (outputs.get(i).name.equals(name)) {
          return i;
        }
      }
      return -1;
    }
  }

  /**
   * The manifest's streaming block (mobilekit/artifact/schema.py Streaming). state: one step
   * program {@code (frame, *state) -> (logits, *state_out)}, each state input {@code X} fed back
   * from the output {@code X_out}, zeros first. frame-cache: an encoder (frame -> tokens) and a
   * head over the last {@code window} frames' tokens, oldest first along axis 1.
   */
  public static final class Streaming {
    public static final String STATE = "state";
    public static final String FRAME_CACHE = "frame-cache";

    public final String mode;
    public final List<Program> programs;
    public final List<TensorSpec> state;
    /** frame-cache: frames of tokens the head takes; 0 for the state form. */
    public final int window;

    Streaming(String mode, List<Program> programs, List<TensorSpec> state, int window) {
      this.mode = mode;
      this.programs = programs;
      this.state = state;
      this.window = window;
    }
  }

  private Manifest(Map<String, Object> m) throws ManifestException {
    raw = m;
    Object version = m.get("schema_version");
    if (!(version instanceof Long) || (Long) version != SCHEMA_VERSION) {
      throw new ManifestException("manifest schema_version " + version + " is not supported "
          + "(this app reads version " + SCHEMA_VERSION + "); update the app or re-convert");
    }
    model = checkModelName(str(m, "model", true));
    family = str(m, "family", false);
    numClasses = num(m, "num_classes").longValue();
    target = str(m, "target", true);
    runtime = str(m, "runtime", true);
    computeUnits = str(m, "compute_units", true);
    delegate = str(m, "delegate", false);
    precision = str(m, "precision", true);
    Map<String, Object> q = obj(m, "quantization", false);
    quantization = q == null ? null : str(q, "scheme", true);
    file = checkFileName(str(m, "file", true));
    sizeBytes = num(m, "size_bytes").longValue();
    sha256 = str(m, "sha256", true);
    if (!sha256.matches("[0-9a-f]{64}")) {
      throw new ManifestException("manifest sha256 must be 64 lowercase hex digits; "
          + "re-convert the artifact");
    }
    Map<String, Object> in = obj(m, "input", true);
    inputName = str(in, "name", true);
    inputShape = longs(in, "shape");
    inputLayout = in.containsKey("layout") ? str(in, "layout", true) : "BTCHW";
    inputDtype = in.containsKey("dtype") ? str(in, "dtype", true) : "float32";
    inputScale = in.containsKey("scale") ? num(in, "scale").doubleValue() : 1.0 / 255;
    inputMean = doubles(in, "mean");
    inputStd = doubles(in, "std");
    frameSampling = in.containsKey("frame_sampling") ? str(in, "frame_sampling", true) : "tsn";
    if (inputLayout.length() != inputShape.length) {
      throw new ManifestException("manifest input layout " + inputLayout + " does not match "
          + "its shape of rank " + inputShape.length + "; re-convert the artifact");
    }
    Map<String, Object> st = obj(m, "streaming", false);
    streaming = st == null ? null : streaming(st);
  }

  private static Streaming streaming(Map<String, Object> st) throws ManifestException {
    String mode = str(st, "mode", true);
    List<Program> programs = new java.util.ArrayList<>();
    for (Object p : listOf(st, "programs", "streaming.programs")) {
      Map<String, Object> pm = asObject(p, "streaming.programs[]");
      String sha = str(pm, "sha256", true);
      if (!sha.matches("[0-9a-f]{64}")) {
        throw new ManifestException("manifest streaming program sha256 must be 64 lowercase hex "
            + "digits; re-convert the artifact");
      }
      programs.add(new Program(str(pm, "role", true), checkFileName(str(pm, "file", true)),
          num(pm, "size_bytes").longValue(), sha, tensors(pm, "inputs"), tensors(pm, "outputs")));
    }
    boolean noState = st.get("state") == null
        || st.get("state") instanceof List && ((List<?>) st.get("state")).isEmpty();
    List<TensorSpec> state = noState ? new java.util.ArrayList<TensorSpec>() : tensors(st, "state");
    Object w = st.get("window");
    int window = w == null ? 0 : num(st, "window").intValue();
    String fix = "; re-convert the artifact with `mobilekit convert --streaming`";
    if (Streaming.STATE.equals(mode)) {
      if (programs.size() != 1 || !"step".equals(programs.get(0).role)) {
        throw new ManifestException("a state stream has one program, the step" + fix);
      }
      Program step = programs.get(0);
      if (step.inputs.size() != 1 + state.size()) {
        throw new ManifestException("the step takes " + step.inputs.size() + " inputs, the frame "
            + "and " + state.size() + " state tensors need " + (1 + state.size()) + fix);
      }
      for (int i = 0; i < state.size(); i++) {
        TensorSpec s = state.get(i);
        if (!step.inputs.get(i + 1).name.equals(s.name)) {
          throw new ManifestException("state " + s.name + " is not the step's input " + (i + 1)
              + " (" + step.inputs.get(i + 1).name + ")" + fix);
        }
        int out = step.outputIndex(s.name + "_out");
        if (out < 0 || !java.util.Arrays.equals(step.outputs.get(out).shape, s.shape)) {
          throw new ManifestException("the step returns no " + s.name + "_out of shape "
              + java.util.Arrays.toString(s.shape) + " to feed back" + fix);
        }
      }
    } else if (Streaming.FRAME_CACHE.equals(mode)) {
      if (programs.size() != 2 || !"encoder".equals(programs.get(0).role)
          || !"head".equals(programs.get(1).role)) {
        throw new ManifestException("a frame-cache stream has two programs, encoder then head" + fix);
      }
      Program enc = programs.get(0);
      Program head = programs.get(1);
      if (window < 1 || enc.inputs.size() != 1 || head.inputs.size() != 1
          || (long) enc.outputs.get(0).numel() * window != head.inputs.get(0).numel()) {
        throw new ManifestException("the head's input is not " + window + " frames of the "
            + "encoder's tokens" + fix);
      }
    } else {
      throw new ManifestException("manifest streaming mode \"" + mode + "\" is not state or "
          + "frame-cache; update the app or re-convert");
    }
    return new Streaming(mode, programs, state, window);
  }

  private static List<TensorSpec> tensors(Map<String, Object> m, String key)
      throws ManifestException {
    List<TensorSpec> out = new java.util.ArrayList<>();
    for (Object t : listOf(m, key, "streaming " + key)) {
      Map<String, Object> tm = asObject(t, "streaming " + key + "[]");
      out.add(new TensorSpec(str(tm, "name", true), longs(tm, "shape")));
    }
    return out;
  }

  private static List<?> listOf(Map<String, Object> m, String key, String what)
      throws ManifestException {
    Object v = m.get(key);
    if (!(v instanceof List) || ((List<?>) v).isEmpty()) {
      throw new ManifestException("manifest " + what + " must be a non-empty list; re-convert "
          + "the artifact");
    }
    return (List<?>) v;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> asObject(Object v, String what) throws ManifestException {
    if (!(v instanceof Map)) {
      throw new ManifestException("manifest " + what + " must be an object, got " + v);
    }
    return (Map<String, Object>) v;
  }

  /** The files of a streaming artifact's programs (the first is {@link #file}). */
  public File[] programFiles(File artifactDir) {
    File[] out = new File[streaming.programs.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = new File(artifactDir, streaming.programs.get(i).file);
    }
    return out;
  }

  public static Manifest parse(String json) throws ManifestException {
    Map<String, Object> m;
    try {
      m = Json.parseObject(json);
    } catch (Json.ParseException e) {
      throw new ManifestException("manifest is not valid JSON (" + e.getMessage()
          + "); re-download or re-convert the artifact");
    }
    return new Manifest(m);
  }

  /** Reads ARTIFACT_DIR/manifest.json. */
  public static Manifest load(File artifactDir) throws ManifestException, IOException {
    File f = new File(artifactDir, "manifest.json");
    if (!f.isFile()) {
      throw new ManifestException("no manifest.json in " + artifactDir + "; pass the folder "
          + "that `mobilekit convert` wrote (model file + manifest.json)");
    }
    return parse(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8));
  }

  /** The model file inside the artifact folder. */
  public File modelFile(File artifactDir) {
    return new File(artifactDir, file);
  }

  /**
   * Field {@code key} of {@code m} as a {@code type} ({@code what} names it in the error); null
   * when absent and not {@code required}.
   */
  private static <T> T field(Map<String, Object> m, String key, Class<T> type, String what,
      boolean required) throws ManifestException {
    Object v = m.get(key);
    if (v == null) {
      if (required) {
        throw missing(key);
      }
      return null;
    }
    if (!type.isInstance(v)) {
      throw new ManifestException("manifest field " + key + " must be " + what + ", got " + v);
    }
    return type.cast(v);
  }

  private static String str(Map<String, Object> m, String key, boolean required)
      throws ManifestException {
    return field(m, key, String.class, "a string", required);
  }

  private static Number num(Map<String, Object> m, String key) throws ManifestException {
    return field(m, key, Number.class, "a number", true);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> obj(Map<String, Object> m, String key, boolean required)
      throws ManifestException {
    return (Map<String, Object>) field(m, key, Map.class, "an object", required);
  }

  private static List<?> list(Map<String, Object> m, String key) throws ManifestException {
    Object v = m.get(key);
    if (!(v instanceof List)) {
      throw v == null ? missing("input." + key)
          : new ManifestException("manifest field input." + key + " must be a list");
    }
    return (List<?>) v;
  }

  private static long[] longs(Map<String, Object> m, String key) throws ManifestException {
    List<?> l = list(m, key);
    long[] out = new long[l.size()];
    for (int i = 0; i < out.length; i++) {
      if (!(l.get(i) instanceof Long)) {
        throw new ManifestException("manifest input." + key + " must hold integers, got " + l);
      }
      out[i] = (Long) l.get(i);
    }
    return out;
  }

  private static double[] doubles(Map<String, Object> m, String key) throws ManifestException {
    List<?> l = list(m, key);
    double[] out = new double[l.size()];
    for (int i = 0; i < out.length; i++) {
      if (!(l.get(i) instanceof Number)) {
        throw new ManifestException("manifest input." + key + " must hold numbers, got " + l);
      }
      out[i] = ((Number) l.get(i)).doubleValue();
    }
    return out;
  }

  private static ManifestException missing(String key) {
    return new ManifestException("manifest has no " + key + "; re-convert the artifact with "
        + "`mobilekit convert`");
  }
}
