package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The session the UI and the headless activity share, offline (no collector). */
public class BenchmarkSessionTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  /** An artifact folder as `mobilekit convert` writes it, with a tiny input. */
  private File artifact(byte[] model) throws Exception {
    File dir = tmp.newFolder("tiny-xnnpack");
    Files.write(new File(dir, "model.pte").toPath(), model);
    Map<String, Object> m = TestFiles.goldenObject("manifest_xnnpack.json");
    m.put("sha256", Sha256.of(model));
    m.put("size_bytes", (long) model.length);
    @SuppressWarnings("unchecked")
    Map<String, Object> input = (Map<String, Object>) m.get("input");
    input.put("shape", java.util.Arrays.asList(1L, 1L, 3L, 2L, 2L));
    Files.write(new File(dir, "manifest.json").toPath(),
        Json.writePretty(m).getBytes(StandardCharsets.UTF_8));
    return dir;
  }

  private BenchmarkSession.Options options(int iterations) {
    BenchmarkSession.Options o = new BenchmarkSession.Options();
    o.config = RunConfig.cpu(0, 1, iterations);
    o.device = ReportTest.pixel8();
    return o;
  }

  @SuppressWarnings("unchecked")
  @Test
  public void offlineRunWritesTheResultAndQueuesIt() throws Exception {
    File dir = artifact(new byte[] {1, 2, 3});
    ReportQueue queue = new ReportQueue(tmp.newFolder("queue"));
    JvmRunner runner = new JvmRunner();
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> runner, options(5),
        tmp.newFolder("results"), queue, null);
    assertTrue(out.json, !out.failed());
    assertEquals(1 + 1 + 5, runner.runs);
    assertTrue(runner.closed);
    assertEquals(1, out.delivery.remaining);
    assertEquals(out.json, TestFiles.read(queue.pending().get(0)));
    assertEquals(out.json, TestFiles.read(out.resultFile));
    Map<String, Object> results = (Map<String, Object>) out.report.get("results");
    assertEquals(5, ((List<Object>) results.get("latencies_ms")).size());
    assertNull(out.report.get("thermal")); // no probe: the OS gave none
  }

  @SuppressWarnings("unchecked")
  @Test
  public void aHugeRunDropsTheRawLatenciesToStayUnderTheCollectorLimit() throws Exception {
    File dir = artifact(new byte[] {4});
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> new JvmRunner(),
        options(120000), tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    Map<String, Object> results = (Map<String, Object>) out.report.get("results");
    assertNull(results.get("latencies_ms"));
    assertNotNull(results.get("latency_ms"));
    assertTrue(out.json.length() < BenchmarkSession.MAX_REPORT_CHARS);
  }

  @Test
  public void aDamagedModelFileGivesAFailedReportNotACrash() throws Exception {
    File dir = artifact(new byte[] {1, 2, 3});
    Files.write(new File(dir, "model.pte").toPath(), new byte[] {9, 9}); // truncated push
    JvmRunner runner = new JvmRunner();
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> runner, options(3),
        tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    assertTrue(out.failed());
    assertNull(out.report.get("results"));
    String error = (String) out.report.get("error");
    assertTrue(error, error.startsWith("setup failed: model file model.pte has sha256"));
    assertEquals(0, runner.loads);
  }

  @Test
  public void anUnsupportedRuntimeIsAFailedReport() throws Exception {
    File dir = artifact(new byte[] {5});
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> {
      throw new IllegalArgumentException("runtime coreml does not run on Android");
    }, options(3), tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    assertEquals("setup failed: runtime coreml does not run on Android", out.report.get("error"));
  }

  @SuppressWarnings("unchecked")
  @Test
  public void theArtifactsOwnComputeUnitsReachTheRunnerAndTheReport() throws Exception {
    File dir = artifact(new byte[] {6});
    String[] asked = new String[1];
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> {
      asked[0] = units;
      return new JvmRunner();
    }, options(2), tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    assertEquals("cpu", asked[0]); // manifest_xnnpack.json: compute_units "cpu"
    Map<String, Object> config = (Map<String, Object>) out.report.get("config");
    assertEquals("cpu", config.get("compute_units"));
  }

  @SuppressWarnings("unchecked")
  @Test
  public void requestedComputeUnitsReachTheRunnerAndTheReport() throws Exception {
    File dir = artifact(new byte[] {7});
    String[] asked = new String[1];
    BenchmarkSession.Options o = options(2);
    o.computeUnits = "gpu";
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> {
      asked[0] = units;
      return new JvmRunner();
    }, o, tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    assertTrue(out.json, !out.failed());
    assertEquals("gpu", asked[0]);
    Map<String, Object> config = (Map<String, Object>) out.report.get("config");
    assertEquals("gpu", config.get("compute_units"));
    assertEquals("cpu", o.config.computeUnits); // the caller's config is left as it was
  }

  @SuppressWarnings("unchecked")
  @Test
  public void computeUnitsTheAppRefusesGiveAFailedReportThatNamesThem() throws Exception {
    File dir = artifact(new byte[] {8});
    BenchmarkSession.Options o = options(2);
    o.computeUnits = "gpu";
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> {
      throw new IllegalArgumentException("compute units " + units + " are not available");
    }, o, tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    assertEquals("setup failed: compute units gpu are not available", out.report.get("error"));
    Map<String, Object> config = (Map<String, Object>) out.report.get("config");
    assertEquals("gpu", config.get("compute_units"));
  }

  @Test(expected = Manifest.ManifestException.class)
  public void aFolderWithoutManifestIsAnError() throws Exception {
    BenchmarkSession.run(tmp.newFolder("empty"), (m, units) -> new JvmRunner(), options(1),
        tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
  }
}
