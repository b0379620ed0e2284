package org.mobilekit.benchcore;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.Map;

/**
 * One benchmark of one artifact folder, the same for the UI and the headless activity: read
 * the manifest, check the model file's sha256, pick the runner, run the loop, build the report
 * (a failed run still gives a report, with its error), write it to {@code result.json} in the
 * output folder and hand it to the queue, which posts it when a collector is configured.
 */
public final class BenchmarkSession {
  /** Creates the runner for a manifest's runtime (the app knows the Android runtimes). */
  public interface RunnerFactory {
    /**
     * @param computeUnits where to run it: the manifest's own compute units, or the ones the
     *     user asked for (e.g. "gpu" for a .tflite through LiteRT's GPU delegate)
     * @throws IllegalArgumentException naming the runtime or compute units when the app has no
     *     runner for them
     */
    ModelRunner create(Manifest manifest, String computeUnits);
  }

  /** The OS's thermal state name, or null when it gives none. */
  public interface ThermalProbe {
    String current();
  }

  /** Everything a session needs besides the artifact. */
  public static final class Options {
    public RunConfig config = RunConfig.cpu(0, 10, 100);
    /**
     * Compute units to run the artifact on (e.g. "gpu"), or null for the manifest's own. The
     * report's config carries the ones used, in place of config.computeUnits.
     */
    public String computeUnits;
    public DeviceInfo device;
    public String appVersion = "0.1.0";
    /** Collector id when the artifact was downloaded from it, else null. */
    public String artifactId;
    /** Write every timed latency into the report (latencies_ms), not only the statistics. */
    public boolean includeLatencies = true;
    public ThermalProbe thermal;
    public Benchmark.MemoryProbe memory;
    public Benchmark.Progress progress;
  }

  public static final class Outcome {
    public final Map<String, Object> report;
    public final String reportId;
    public final String json;
    public final File resultFile;
    /** What posting did; remaining > 0 means queued for later. */
    public final ReportQueue.FlushResult delivery;

    Outcome(Map<String, Object> report, String json, File resultFile,
        ReportQueue.FlushResult delivery) {
      this.report = report;
      this.reportId = (String) report.get("report_id");
      this.json = json;
      this.resultFile = resultFile;
      this.delivery = delivery;
    }

    public boolean failed() {
      return report.get("error") != null;
    }
  }

  /** Above this a report is sent without latencies_ms (the collector's limit is 1 MiB). */
  static final int MAX_REPORT_CHARS = 900_000;

  private BenchmarkSession() {}

  /**
   * Runs the benchmark and delivers its report.
   *
   * @param client the collector, or null to only write and queue the report
   * @throws Manifest.ManifestException when the folder has no usable manifest (no report can
   *     name the artifact then)
   */
  public static Outcome run(File artifactDir, RunnerFactory runners, Options opts,
      File outputDir, ReportQueue queue, CollectorClient client)
      throws Manifest.ManifestException, IOException {
    Manifest manifest = Manifest.load(artifactDir);
    File modelFile = manifest.modelFile(artifactDir);
    String reportId = Report.newReportId();
    RunConfig config = opts.config.withComputeUnits(
        opts.computeUnits != null ? opts.computeUnits : manifest.computeUnits);
    String before = opts.thermal != null ? opts.thermal.current() : null;

    Map<String, Object> results = null;
    Map<String, Object> numerics = null;
    Map<String, Object> streaming = null;
    String error = null;
    String runtime = manifest.runtime;
    String runtimeVersion = "unknown";
    ModelRunner runner = null;
    try {
      checkModelFile(manifest, modelFile);
      runner = runners.create(manifest, config.computeUnits);
      runtime = runner.runtime();
      runtimeVersion = runner.runtimeVersion();
      InputTensor input = InputTensor.fromManifest(manifest); // a stream's: one frame
      if (manifest.streaming != null) {
        // One new frame at a time (the step, or encoder + head); a stream carries no check set.
        File[] files = manifest.programFiles(artifactDir);
        for (int i = 1; i < files.length; i++) {
          checkProgramFile(manifest.streaming.programs.get(i), files[i]);
        }
        Benchmark.Result r = Benchmark.runStream(runner, files, manifest.streaming, input, config,
            opts.memory, opts.progress);
        results = Report.results(r, opts.includeLatencies);
        streaming = Report.streaming(r);
      } else {
        CheckSet checkSet = null;
        String checkError = null;
        if (runner instanceof CheckingRunner) {
          try {
            checkSet = CheckSet.read(artifactDir, manifest);
          } catch (CheckSet.CheckSetException e) {
            checkError = e.getMessage();
          }
        }
        Benchmark.Result r = Benchmark.run(runner, modelFile, input, config, opts.memory,
            opts.progress, checkSet, checkError);
        results = Report.results(r, opts.includeLatencies);
        numerics = r.numerics;
        if (numerics != null && "error".equals(numerics.get("status"))) {
          error = "check set: " + numerics.get("detail"); // timed, but the outputs are unchecked
        }
      }
    } catch (Benchmark.BenchmarkException e) {
      error = e.getMessage();
    } catch (IllegalArgumentException | IOException e) {
      error = "setup failed: " + e.getMessage();
    } finally {
      if (runner != null) {
        runner.close();
      }
    }
    return finish(manifest, reportId, config, before, results, numerics, streaming, error,
        runtime, runtimeVersion, opts, outputDir, queue, client);
  }

  /** Builds, writes and delivers the report of a run (clip or stream). */
  private static Outcome finish(Manifest manifest, String reportId, RunConfig config,
      String before, Map<String, Object> results, Map<String, Object> numerics,
      Map<String, Object> streaming, String error, String runtime, String runtimeVersion,
      Options opts, File outputDir, ReportQueue queue, CollectorClient client)
      throws IOException {
    String after = opts.thermal != null ? opts.thermal.current() : null;

    Report.AppInfo app = new Report.AppInfo(Report.APP_NAME, opts.appVersion, runtime,
        runtimeVersion);
    Map<String, Object> report = Report.build(reportId, Instant.now(), opts.device, app,
        Report.artifact(manifest, opts.artifactId), config, results,
        Report.thermal(before, after), error, numerics, streaming);
    String json = Json.writePretty(report);
    if (json.length() > MAX_REPORT_CHARS && results != null) {
      // The collector refuses bodies over 1 MiB (413): keep the statistics, drop the raw list.
      results.put("latencies_ms", null);
      json = Json.writePretty(report);
    }

    outputDir.mkdirs();
    File resultFile = new File(outputDir, "result.json");
    Files.write(resultFile.toPath(), json.getBytes(StandardCharsets.UTF_8));
    ReportQueue.FlushResult delivery = queue.deliver(client, reportId, json);
    return new Outcome(report, json, resultFile, delivery);
  }

  /** A streaming artifact's second program (the head) checked like the model file. */
  static void checkProgramFile(Manifest.Program program, File file) throws IOException {
    if (!file.isFile()) {
      throw new IOException("program file " + file + " is missing; push the whole artifact "
          + "folder (manifest.json and every program's file)");
    }
    String actual = Sha256.of(file);
    if (!actual.equals(program.sha256)) {
      throw new IOException("program file " + file.getName() + " has sha256 " + actual
          + " but the manifest says " + program.sha256 + "; push or download it again");
    }
  }

  /** A truncated or stale push gives a clear error instead of a crash in native code. */
  static void checkModelFile(Manifest manifest, File modelFile) throws IOException {
    if (!modelFile.isFile()) {
      throw new IOException("model file " + modelFile + " is missing; push the whole artifact "
          + "folder (manifest.json and " + manifest.file + ")");
    }
    String actual = Sha256.of(modelFile);
    if (!actual.equals(manifest.sha256)) {
      throw new IOException("model file " + modelFile.getName() + " has sha256 " + actual
          + " but the manifest says " + manifest.sha256 + "; push or download it again");
    }
  }
}
