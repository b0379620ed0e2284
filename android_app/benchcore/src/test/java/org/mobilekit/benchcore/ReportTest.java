package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The report builder's JSON equals the collector's golden payloads (checked in under
 * mobilekit/collector/schemas/golden, exported from wire.py): same keys at every level, same
 * nulls, same values when built from the same inputs.
 */
public class ReportTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  static DeviceInfo pixel8() {
    DeviceInfo d = new DeviceInfo("Google", "Pixel 8", "15");
    d.modelIdentifier = "shiba";
    d.chip = "Tensor G3";
    d.cpuCores = 9;
    d.ramMb = 7864;
    return d;
  }

  static Report.AppInfo app() {
    return new Report.AppInfo("mobilekit-android", "0.1.0", "executorch", "1.5.1");
  }

  static Map<String, Object> artifactRef(String model) throws Exception {
    Map<String, Object> raw = TestFiles.goldenObject("manifest_xnnpack.json");
    raw.put("model", model);
    return Report.artifact(Manifest.parse(Json.write(raw)), null);
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> results() throws Exception {
    return (Map<String, Object>) TestFiles.goldenObject("report_android_xnnpack.json").get("results");
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> goldenNumerics() throws Exception {
    return (Map<String, Object>) TestFiles.goldenObject("report_android_xnnpack.json").get("numerics");
  }

  @Test
  public void successfulRunEqualsGoldenAndroidReport() throws Exception {
    Map<String, Object> stats = new LinkedHashMap<>();
    stats.put("min", 41.0);
    stats.put("median", 43.5);
    stats.put("mean", 44.1);
    stats.put("p90", 47.9);
    stats.put("std", 2.3);
    stats.put("max", 52.0);
    stats.put("trimmed_mean", 43.8);
    Map<String, Object> results = new LinkedHashMap<>();
    results.put("compile_ms", null);
    results.put("load_ms", 95.0);
    results.put("first_inference_ms", 61.2);
    results.put("latency_ms", stats);
    results.put("latencies_ms", null);
    results.put("peak_memory_mb", 180.0);
    Map<String, Object> built = Report.build("android-0e6a2d14-77c3-4b51-9a0f-5d8e1c2b3a49",
        Instant.parse("2026-11-20T11:02:03.456Z"), pixel8(), app(), artifactRef("vlf_b0"),
        RunConfig.cpu(4, 10, 100), results, Report.thermal("none", "light"), null,
        goldenNumerics());
    assertEquals(TestFiles.goldenObject("report_android_xnnpack.json"),
        Json.parse(Json.write(built)));
  }

  @Test
  public void resultsFromTheBenchmarkHaveTheGoldenKeys() throws Exception {
    File model = tmp.newFile("model.pte");
    Benchmark.Result r = Benchmark.run(new JvmRunner(), model,
        InputTensor.build("video", new long[] {1, 2, 3, 8, 8}, "BTCHW", 1 / 255.0,
            new double[] {0.5, 0.5, 0.5}, new double[] {0.25, 0.25, 0.25}, 0),
        RunConfig.cpu(4, 2, 5), () -> 180.0, null);
    Map<String, Object> results = Report.results(r, false);
    Map<String, Object> built = Report.build("android-0e6a2d14-77c3-4b51-9a0f-5d8e1c2b3a49",
        Instant.parse("2026-11-20T11:02:03Z"), pixel8(), app(), artifactRef("vlf_b0"),
        RunConfig.cpu(4, 10, 100), results, Report.thermal("none", "light"), null);
    built.put("numerics", goldenNumerics()); // CheckSetTest builds real ones
    Object golden = TestFiles.goldenObject("report_android_xnnpack.json");
    Object ours = Json.parse(Json.write(built));
    assertEquals(keyShape(golden), keyShape(ours));

    Map<String, Object> withAll = Report.results(r, true);
    assertEquals(5, ((List<?>) withAll.get("latencies_ms")).size());

    File out = TestFiles.outDir();
    if (out != null) { // the pytest harness validates this with the collector's pydantic models
      Map<String, Object> full = Report.build(Report.newReportId(), Instant.now(), pixel8(), app(),
          artifactRef("vlf_b0"), RunConfig.cpu(0, 2, 5), withAll, null, null);
      Files.write(new File(out, "built_report.json").toPath(),
          Json.writePretty(full).getBytes(StandardCharsets.UTF_8));
    }
  }

  @Test
  public void failedRunEqualsGoldenFailedReport() throws Exception {
    Map<String, Object> built = Report.build(
        "android-failed-1c9b8e77-2a3d-4f10-b6e5-93d0c4a1f2e8", Instant.parse("2026-11-20T11:05:00Z"),
        pixel8(), app(), artifactRef("x3d_xs"), RunConfig.cpu(4, 10, 100), null, null,
        "load failed: Error 0x20 (NotSupported) loading method forward");
    assertEquals(TestFiles.goldenObject("report_failed.json"), Json.parse(Json.write(built)));
  }

  @Test
  public void reportIdsAreUniqueAndValid() {
    String a = Report.newReportId();
    String b = Report.newReportId();
    assertTrue(a.matches("[A-Za-z0-9_.:-]{8,64}"));
    assertTrue(!a.equals(b));
    assertEquals("2026-11-20T11:02:03Z", Report.timestamp(Instant.parse("2026-11-20T11:02:03.999Z")));
  }

  @Test(expected = IllegalArgumentException.class)
  public void resultsAndErrorAreExclusive() throws Exception {
    Report.build(Report.newReportId(), Instant.now(), pixel8(), app(), artifactRef("m"),
        RunConfig.cpu(1, 1, 1), new LinkedHashMap<>(), null, "boom");
  }

  /** Keys at every level with a kind per leaf (number, string, null, list, bool). */
  @SuppressWarnings("unchecked")
  static Object keyShape(Object v) {
    if (v instanceof Map) {
      Map<String, Object> out = new LinkedHashMap<>();
      for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
        out.put(e.getKey(), keyShape(e.getValue()));
      }
      return new java.util.TreeMap<>(out);
    }
    if (v instanceof List) {
      List<Object> out = new ArrayList<>();
      for (Object o : (List<Object>) v) {
        out.add(keyShape(o));
      }
      return out;
    }
    if (v == null) {
      return "null";
    }
    return v instanceof Number ? "number" : v.getClass().getSimpleName();
  }
}
