package org.mobilekit.benchcore;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Builds a device report (wire.py DeviceReport, schema_version 3) as an ordered map whose JSON
 * has exactly the keys of the collector's golden payloads, nulls written out. A report carries
 * results or an error; both only when the run was timed but its check set could not be run
 * (numerics status "error", {@link CheckSet#error}).
 */
public final class Report {
  public static final int SCHEMA_VERSION = 3;
  public static final String APP_NAME = "mobilekit-android";

  private Report() {}

  /** The app and runtime that produced a report. */
  public static final class AppInfo {
    public final String name;
    public final String version;
    public final String runtime;
    public final String runtimeVersion;

    public AppInfo(String name, String version, String runtime, String runtimeVersion) {
      this.name = name;
      this.version = version;
      this.runtime = runtime;
      this.runtimeVersion = runtimeVersion;
    }

    Map<String, Object> toJsonMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", name);
      m.put("version", version);
      m.put("runtime", runtime);
      m.put("runtime_version", runtimeVersion);
      return m;
    }
  }

  /** A new idempotency key: a retry of the same run must reuse it. */
  public static String newReportId() {
    return "android-" + UUID.randomUUID();
  }

  /** ISO 8601 UTC to the second, e.g. 2026-11-20T11:02:03Z. */
  public static String timestamp(Instant when) {
    return when.truncatedTo(ChronoUnit.SECONDS).toString();
  }

  public static Map<String, Object> artifact(Manifest manifest, String artifactId) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", manifest.model);
    m.put("target", manifest.target);
    m.put("sha256", manifest.sha256);
    m.put("artifact_id", artifactId);
    m.put("precision", manifest.precision);
    m.put("quantization", manifest.quantization);
    return m;
  }

  public static Map<String, Object> results(Benchmark.Result r, boolean withLatencies) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("compile_ms", null); // on-device compilation is a Core ML step
    m.put("load_ms", r.loadMs);
    m.put("first_inference_ms", r.firstInferenceMs);
    m.put("latency_ms", r.stats.toJsonMap());
    if (withLatencies) {
      List<Object> all = new ArrayList<>();
      for (double v : r.latenciesMs) {
        all.add(v);
      }
      m.put("latencies_ms", all);
    } else {
      m.put("latencies_ms", null);
    }
    m.put("peak_memory_mb", r.peakMemoryMb);
    return m;
  }

  /**
   * The report's {@code streaming} block for a streaming run ({@link Benchmark#runStream}), or
   * null for a clip run: its per-frame statistics are the results' latency_ms. The app times no
   * clip beside the stream, so clip_latency_ms and clip_sha256 are null.
   */
  public static Map<String, Object> streaming(Benchmark.Result r) {
    if (r.streamMode == null) {
      return null;
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("mode", r.streamMode);
    m.put("window", r.window > 0 ? (Object) (long) r.window : null);
    m.put("frames", r.frames);
    m.put("frame_latency_ms", r.stats.toJsonMap());
    m.put("clip_latency_ms", null);
    m.put("clip_sha256", null);
    return m;
  }

  public static Map<String, Object> thermal(String before, String after) {
    if (before == null && after == null) {
      return null; // the OS gave no thermal state
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("before", before);
    m.put("after", after);
    return m;
  }

  /**
   * The whole report. Pass {@code results} for a successful run or {@code error} for a failed
   * one (exactly one of the two).
   */
  public static Map<String, Object> build(String reportId, Instant createdAt, DeviceInfo device,
      AppInfo app, Map<String, Object> artifact, RunConfig config, Map<String, Object> results,
      Map<String, Object> thermal, String error) {
    return build(reportId, createdAt, device, app, artifact, config, results, thermal, error, null);
  }

  /** The whole report with the check set's numerics block (null: not checked). */
  public static Map<String, Object> build(String reportId, Instant createdAt, DeviceInfo device,
      AppInfo app, Map<String, Object> artifact, RunConfig config, Map<String, Object> results,
      Map<String, Object> thermal, String error, Map<String, Object> numerics) {
    return build(reportId, createdAt, device, app, artifact, config, results, thermal, error,
        numerics, null);
  }

  /**
   * The whole report with its numerics and a streaming run's {@link #streaming} block (null:
   * a clip run); a streaming block needs results, whose latency is then per new frame.
   */
  public static Map<String, Object> build(String reportId, Instant createdAt, DeviceInfo device,
      AppInfo app, Map<String, Object> artifact, RunConfig config, Map<String, Object> results,
      Map<String, Object> thermal, String error, Map<String, Object> numerics,
      Map<String, Object> streaming) {
    if (streaming != null && results == null) {
      throw new IllegalArgumentException("a streaming block describes timed frames: it needs results");
    }
    boolean checkError = numerics != null && "error".equals(numerics.get("status"));
    if (results == null && error == null
        || results != null && error != null && !checkError) {
      throw new IllegalArgumentException("a report carries either results or an error");
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("schema_version", (long) SCHEMA_VERSION);
    m.put("report_id", reportId);
    m.put("created_at", timestamp(createdAt));
    m.put("device", device.toJsonMap());
    m.put("app", app.toJsonMap());
    m.put("artifact", artifact);
    m.put("config", config.toJsonMap());
    m.put("results", results);
    m.put("thermal", thermal);
    m.put("error", error);
    m.put("numerics", numerics);
    m.put("streaming", streaming);
    return m;
  }
}
