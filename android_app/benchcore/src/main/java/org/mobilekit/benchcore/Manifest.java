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
