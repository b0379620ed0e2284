package org.mobilekit.bench;

import android.content.Context;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;
import org.mobilekit.bench.runners.Runners;
import org.mobilekit.benchcore.Benchmark;
import org.mobilekit.benchcore.BenchmarkSession;
import org.mobilekit.benchcore.CollectorClient;
import org.mobilekit.benchcore.Json;
import org.mobilekit.benchcore.ReportQueue;
import org.mobilekit.benchcore.RunConfig;

/**
 * One benchmark as both the UI and BenchmarkActivity run it (on a background thread): the
 * benchcore session with the Android runners, device info and probes, then the result files
 * `mobilekit android run` waits for.
 *
 * <p>Files in mobilekit/results/: NAME (the report JSON, or {"fatal": ...} when no report
 * could be made) and NAME without .json + ".delivery.json" (report_id, sent, duplicates,
 * queued, rejected, error), written last: its presence means the run is over.
 */
final class BenchmarkRun {
  private BenchmarkRun() {}

  static final class Settings {
    File artifactDir;
    String artifactId;
    int warmup = 10;
    int iterations = 100;
    int threads;
    /** "cpu", "gpu", or null for the artifact's own compute units (its manifest's). */
    String computeUnits;
    String server;
    String token;
    String resultName = "result.json";
  }

  /** The finished run: the report (or null) and a one-line summary for the UI and logcat. */
  static final class Done {
    final Map<String, Object> report;
    final String summary;

    Done(Map<String, Object> report, String summary) {
      this.report = report;
      this.summary = summary;
    }
  }

  static Done execute(Context ctx, Settings s, Benchmark.Progress progress) {
    Map<String, Object> delivery = new LinkedHashMap<>();
    CollectorClient client = null;
    try {
      if (s.server != null && !s.server.trim().isEmpty()) {
        client = new CollectorClient(s.server, s.token);
      }
      BenchmarkSession.Options opts = new BenchmarkSession.Options();
      opts.config = RunConfig.cpu(s.threads, s.warmup, s.iterations);
      opts.computeUnits = s.computeUnits;
      opts.device = AndroidDevice.info(ctx);
      opts.appVersion = BuildConfig.VERSION_NAME;
      opts.artifactId = s.artifactId;
      opts.thermal = AndroidDevice.thermal(ctx);
      opts.memory = AndroidDevice.memory();
      opts.progress = progress;
      ReportQueue queue = AppFiles.queue(ctx);
      BenchmarkSession.Outcome out = BenchmarkSession.run(s.artifactDir, new Runners(), opts,
          AppFiles.results(ctx), queue, client);
      AppFiles.writeResult(ctx, s.resultName, out.json);
      ReportQueue.FlushResult d = out.delivery;
      delivery.put("report_id", out.reportId);
      delivery.put("sent", (long) d.sent);
      delivery.put("duplicates", (long) d.duplicates);
      delivery.put("queued", (long) d.remaining);
      delivery.put("rejected", (long) d.rejected);
      delivery.put("error", d.stoppedBy != null ? d.stoppedBy.getMessage()
          : client == null ? "no server given: the report is queued on the phone" : null);
      AppFiles.writeResult(ctx, deliveryName(s.resultName), Json.writePretty(delivery));
      return new Done(out.report, summarize(out, d, client != null));
    } catch (Exception e) { // no report possible: unreadable manifest, bad settings, disk full
      String msg = e.getMessage() != null ? e.getMessage() : e.toString();
      Map<String, Object> fatal = new LinkedHashMap<>();
      fatal.put("fatal", msg);
      delivery.put("error", msg);
      try {
        AppFiles.writeResult(ctx, s.resultName, Json.writePretty(fatal));
        AppFiles.writeResult(ctx, deliveryName(s.resultName), Json.writePretty(delivery));
      } catch (Exception ignored) {
        // the summary below still reaches the UI and logcat
      }
      return new Done(null, "failed: " + msg);
    }
  }

  static String deliveryName(String resultName) {
    String base = resultName.endsWith(".json")
        ? resultName.substring(0, resultName.length() - 5) : resultName;
    return base + ".delivery.json";
  }

  @SuppressWarnings("unchecked")
  private static String summarize(BenchmarkSession.Outcome out, ReportQueue.FlushResult d,
      boolean hadServer) {
    Map<String, Object> artifact = (Map<String, Object>) out.report.get("artifact");
    String head = artifact.get("model") + " " + artifact.get("target");
    String posted = !hadServer ? "queued (no server)"
        : d.stoppedBy != null ? "queued: " + d.stoppedBy.getMessage()
        : d.rejected > 0 ? "rejected by the collector (kept on the phone)" : "posted";
    if (out.failed()) {
      return head + ": " + out.report.get("error") + " [" + posted + "]";
    }
    Map<String, Object> results = (Map<String, Object>) out.report.get("results");
    Map<String, Object> lat = (Map<String, Object>) results.get("latency_ms");
    return String.format(java.util.Locale.US,
        "%s: median %.2f ms, p90 %.2f ms, min %.2f ms (load %.0f ms, first %.1f ms) [%s]",
        head, lat.get("median"), lat.get("p90"), lat.get("min"), results.get("load_ms"),
        results.get("first_inference_ms"), posted);
  }
}
