package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.Assume;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The comparison on a check set written by the real converter (tests/test_android_benchcore.py
 * converts a tiny model and passes MOBILEKIT_TEST_CHECKSET_DIR). The runner is a stand-in that
 * supplies outputs (the JVM has no ExecuTorch): the host runtime's own outputs for the same
 * clips (MOBILEKIT_TEST_HOST_OUTPUTS), whose figures must equal the host's numerics block
 * (MOBILEKIT_TEST_HOST_NUMERICS, computed by mobilekit/artifact/checkset.py).
 */
public class CheckSetTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private static File env(String name) {
    String v = System.getenv(name);
    Assume.assumeTrue(name + " not set (run through tests/test_android_benchcore.py)", v != null);
    return new File(v);
  }

  private static float[][][] hostOutputs(CheckSet cs) throws Exception {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(env("MOBILEKIT_TEST_HOST_OUTPUTS").toPath()))
        .order(ByteOrder.LITTLE_ENDIAN);
    float[][][] got = new float[cs.count][1][cs.expected[0][0].length];
    for (int i = 0; i < cs.count; i++) {
      for (int j = 0; j < got[i][0].length; j++) {
        got[i][0][j] = b.getFloat();
      }
    }
    return got;
  }

  private static CheckSet read(File dir) throws Exception {
    return CheckSet.read(dir, Manifest.load(dir));
  }

  @Test
  public void hostOutputsGiveTheHostsFigures() throws Exception {
    CheckSet cs = read(env("MOBILEKIT_TEST_CHECKSET_DIR"));
    assertEquals(4, cs.count);
    float[][][] host = hostOutputs(cs);
    int[] clip = {0};
    Map<String, Object> ours = cs.check(in -> host[clip[0]++]);
    Map<String, Object> want = Json.parseObject(TestFiles.read(env("MOBILEKIT_TEST_HOST_NUMERICS")));
    assertEquals(want.keySet(), ours.keySet());
    for (String k : want.keySet()) {
      Object w = want.get(k);
      Object o = ours.get(k);
      if (w instanceof Number && o instanceof Number) {
        double a = ((Number) w).doubleValue();
        double b = ((Number) o).doubleValue();
        assertEquals(k, a, b, 1e-9 * Math.max(1.0, Math.abs(a)));
      } else {
        assertEquals(k, w, o);
      }
    }
    assertEquals("agrees", ours.get("status"));

    File out = TestFiles.outDir();
    if (out != null) { // the harness validates it with the collector's pydantic models
      Map<String, Object> results = Report.results(Benchmark.run(new JvmRunner(),
          tmp.newFile("model.pte"), InputTensor.fromManifest(
              Manifest.load(env("MOBILEKIT_TEST_CHECKSET_DIR"))), RunConfig.cpu(1, 0, 2), null, null),
          false);
      Map<String, Object> report = Report.build(Report.newReportId(), Instant.now(),
          ReportTest.pixel8(), ReportTest.app(), ReportTest.artifactRef("tsn_b0"),
          RunConfig.cpu(1, 0, 2), results, null, null, ours);
      Files.write(new File(out, "checkset_report.json").toPath(),
          Json.writePretty(report).getBytes(StandardCharsets.UTF_8));
    }
  }

  @Test
  public void theExpectedOutputsThemselvesAgreeExactly() throws Exception {
    CheckSet cs = read(env("MOBILEKIT_TEST_CHECKSET_DIR"));
    int[] clip = {0};
    Map<String, Object> n = cs.check(in -> new float[][] {cs.expected[0][clip[0]++].clone()});
    assertEquals("agrees", n.get("status"));
    assertEquals(0.0, (Double) n.get("max_abs_diff"), 0.0);
    assertEquals(1.0, (Double) n.get("cosine"), 1e-12);
    assertEquals(1.0, (Double) n.get("top1_agreement"), 0.0);
  }

  private File copy(File src) throws Exception {
    File dst = tmp.newFolder("copy");
    for (String rel : new String[] {"manifest.json", "model.onnx"}) {
      Files.copy(new File(src, rel).toPath(), new File(dst, rel).toPath(),
          StandardCopyOption.REPLACE_EXISTING);
    }
    new File(dst, "checkset").mkdirs();
    for (File f : new File(src, "checkset").listFiles()) {
      Files.copy(f.toPath(), new File(dst, "checkset/" + f.getName()).toPath());
    }
    return dst;
  }

  @SuppressWarnings("unchecked")
  @Test
  public void aPerturbedExpectedFileIsFlagged() throws Exception {
    File dir = copy(env("MOBILEKIT_TEST_CHECKSET_DIR"));
    Map<String, Object> m = Json.parseObject(TestFiles.read(new File(dir, "manifest.json")));
    Map<String, Object> out = (Map<String, Object>) ((List<Object>)
        ((Map<String, Object>) m.get("check_set")).get("outputs")).get(0);
    File logits = new File(dir, (String) out.get("file"));
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(logits.toPath())).order(ByteOrder.LITTLE_ENDIAN);
    b.putFloat(4, b.getFloat(4) + 0.5f); // clip 0, second logit
    Files.write(logits.toPath(), b.array());
    out.put("sha256", Sha256.of(logits)); // re-indexed: only the numbers lie
    Files.write(new File(dir, "manifest.json").toPath(), Json.writePretty(m).getBytes(StandardCharsets.UTF_8));

    CheckSet cs = read(dir);
    float[][][] host = hostOutputs(cs);
    int[] clip = {0};
    Map<String, Object> n = cs.check(in -> host[clip[0]++]);
    assertEquals("disagrees", n.get("status"));
    assertTrue((String) n.get("detail"), ((String) n.get("detail")).startsWith("clip 0: max abs diff"));
    assertTrue((Double) n.get("max_abs_diff") > 0.4);
  }

  @Test
  public void aTruncatedFileIsAnErrorInTheReport() throws Exception {
    File dir = copy(env("MOBILEKIT_TEST_CHECKSET_DIR"));
    File input = new File(dir, "checkset/input.bin");
    byte[] raw = Files.readAllBytes(input.toPath());
    Files.write(input.toPath(), java.util.Arrays.copyOf(raw, raw.length - 8));
    try {
      read(dir);
      fail("a truncated check set was read");
    } catch (CheckSet.CheckSetException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("truncated"));
      Map<String, Object> numerics = CheckSet.error(e.getMessage());
      Map<String, Object> results = ReportTest.results();
      Map<String, Object> report = Report.build(Report.newReportId(), Instant.now(),
          ReportTest.pixel8(), ReportTest.app(), ReportTest.artifactRef("tsn_b0"),
          RunConfig.cpu(1, 0, 2), results, null, "check set: " + e.getMessage(), numerics);
      assertNotNull(report.get("results"));
      assertEquals("error", ((Map<?, ?>) report.get("numerics")).get("status"));
      assertNull(((Map<?, ?>) report.get("numerics")).get("max_abs_diff"));
    }
  }

  /** The app's runtime, stood in for: supplies the host runtime's outputs clip by clip. */
  private static final class SupplyingRunner extends JvmRunnerBase implements CheckingRunner {
    final float[][][] outputs;
    int clip;

    SupplyingRunner(float[][][] outputs) {
      this.outputs = outputs;
    }

    @Override
    public float[][] outputs(float[] in) {
      return outputs[clip++];
    }
  }

  /** A do-nothing ModelRunner base (load/run/close), the loop around it is not under test. */
  private abstract static class JvmRunnerBase implements ModelRunner {
    @Override
    public String runtime() {
      return "onnxruntime";
    }

    @Override
    public String runtimeVersion() {
      return "jvm-test";
    }

    @Override
    public void load(File modelFile, InputTensor input, int threads) {}

    @Override
    public void run() {}

    @Override
    public void close() {}
  }

  private BenchmarkSession.Outcome session(File dir, float[][][] outputs) throws Exception {
    BenchmarkSession.Options o = new BenchmarkSession.Options();
    o.config = RunConfig.cpu(0, 1, 3);
    o.device = ReportTest.pixel8();
    return BenchmarkSession.run(dir, (m, units) -> new SupplyingRunner(outputs), o,
        tmp.newFolder(), new ReportQueue(tmp.newFolder()), null);
  }

  @SuppressWarnings("unchecked")
  @Test
  public void theSessionChecksBeforeTimingAndReports() throws Exception {
    File dir = env("MOBILEKIT_TEST_CHECKSET_DIR");
    BenchmarkSession.Outcome out = session(dir, hostOutputs(read(dir)));
    Map<String, Object> n = (Map<String, Object>) out.report.get("numerics");
    assertEquals("agrees", n.get("status"));
    assertNull(out.report.get("error"));
    assertNotNull(out.report.get("results"));
    assertEquals((long) Report.SCHEMA_VERSION, out.report.get("schema_version"));
  }

  @SuppressWarnings("unchecked")
  @Test
  public void theSessionReportsATruncatedCheckSetAndStillTimes() throws Exception {
    File src = env("MOBILEKIT_TEST_CHECKSET_DIR");
    float[][][] host = hostOutputs(read(src));
    File dir = copy(src);
    File logits = new File(dir, "checkset/logits.bin");
    byte[] raw = Files.readAllBytes(logits.toPath());
    Files.write(logits.toPath(), java.util.Arrays.copyOf(raw, raw.length - 4));
    BenchmarkSession.Outcome out = session(dir, host);
    Map<String, Object> n = (Map<String, Object>) out.report.get("numerics");
    assertEquals("error", n.get("status"));
    assertTrue((String) out.report.get("error"),
        ((String) out.report.get("error")).startsWith("check set: check set file checkset/logits.bin is truncated"));
    assertNotNull(out.report.get("results"));
  }

  @Test
  public void anErrorBesideResultsNeedsANumericsError() throws Exception {
    try {
      Report.build(Report.newReportId(), Instant.now(), ReportTest.pixel8(), ReportTest.app(),
          ReportTest.artifactRef("tsn_b0"), RunConfig.cpu(1, 0, 2), ReportTest.results(), null,
          "check set: missing", null);
      fail("results and an error without a numerics error");
    } catch (IllegalArgumentException expected) {
      // the rule of wire.py DeviceReport
    }
  }
}
