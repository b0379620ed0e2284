package org.mobilekit.benchcore;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Streaming artifacts on the device side: the manifest's streaming block, the loop (state fed
 * back by name, zeros first; a ring buffer of tokens given to the head oldest first), the
 * timed run and the report's per-frame block, with {@link StreamJvmRunner}'s checkable models.
 */
@SuppressWarnings("unchecked")
public class StreamLoopTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private static Map<String, Object> tensor(String name, Long... shape) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("shape", new ArrayList<Object>(Arrays.asList((Object[]) shape)));
    m.put("dtype", "float32");
    return m;
  }

  private static Map<String, Object> program(String role, String file, byte[] bytes,
      List<Object> inputs, List<Object> outputs) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("role", role);
    m.put("file", file);
    m.put("size_bytes", (long) bytes.length);
    m.put("sha256", Sha256.of(bytes));
    m.put("inputs", inputs);
    m.put("outputs", outputs);
    return m;
  }

  private static List<Object> list(Object... xs) {
    return new ArrayList<>(Arrays.asList(xs));
  }

  private static final byte[] STEP = {1, 2, 3};
  private static final byte[] ENCODER = {4, 5, 6, 7};
  private static final byte[] HEAD = {8, 9};

  /** The state form: the running-sum step; state listed (acc, count), outputs in another order. */
  static Map<String, Object> stateManifest() throws Exception {
    Map<String, Object> m = TestFiles.goldenObject("manifest_xnnpack.json");
    m.put("model", "movinet_a0_stream");
    m.put("sha256", Sha256.of(STEP));
    m.put("size_bytes", (long) STEP.length);
    ((Map<String, Object>) m.get("input")).put("shape", list(1L, 1L, 3L, 2L, 2L));
    Map<String, Object> st = new LinkedHashMap<>();
    st.put("mode", "state");
    st.put("programs", list(program("step", "model.pte", STEP,
        list(tensor("video", 1L, 1L, 3L, 2L, 2L), tensor("acc", 1L, 12L), tensor("count", 1L)),
        list(tensor("logits", 1L, 12L), tensor("count_out", 1L), tensor("acc_out", 1L, 12L)))));
    Map<String, Object> acc = tensor("acc", 1L, 12L);
    acc.put("init", "zeros");
    Map<String, Object> count = tensor("count", 1L);
    count.put("init", "zeros");
    st.put("state", list(acc, count));
    st.put("window", null);
    st.put("validation", new LinkedHashMap<String, Object>());
    m.put("streaming", st);
    return m;
  }

  /** The frame-cache form: mean-of-frame encoder, an echoing head over `window` frames. */
  static Map<String, Object> cacheManifest(long batch, long window) throws Exception {
    Map<String, Object> m = TestFiles.goldenObject("manifest_xnnpack.json");
    m.put("sha256", Sha256.of(ENCODER));
    m.put("size_bytes", (long) ENCODER.length);
    ((Map<String, Object>) m.get("input")).put("shape", list(batch, 1L, 3L, 1L, 1L));
    Map<String, Object> st = new LinkedHashMap<>();
    st.put("mode", "frame-cache");
    st.put("programs", list(
        program("encoder", "model.pte", ENCODER, list(tensor("video", batch, 1L, 3L, 1L, 1L)),
            list(tensor("tokens", batch, 1L, 1L))),
        program("head", "model.head.pte", HEAD, list(tensor("tokens", batch, window, 1L)),
            list(tensor("logits", batch, window)))));
    st.put("state", list());
    st.put("window", window);
    st.put("validation", new LinkedHashMap<String, Object>());
    m.put("streaming", st);
    return m;
  }

  private File folder(Map<String, Object> manifest) throws Exception {
    File dir = tmp.newFolder();
    Files.write(new File(dir, "model.pte").toPath(),
        ((Map<?, ?>) manifest.get("streaming")).get("mode").equals("state") ? STEP : ENCODER);
    Files.write(new File(dir, "model.head.pte").toPath(), HEAD);
    Files.write(new File(dir, "manifest.json").toPath(),
        Json.writePretty(manifest).getBytes(StandardCharsets.UTF_8));
    return dir;
  }

  private static StreamJvmRunner loaded(Manifest m, File dir) throws Exception {
    StreamJvmRunner r = new StreamJvmRunner();
    r.loadPrograms(m.programFiles(dir), m.streaming.programs, 1);
    return r;
  }

  @Test
  public void theStateIsFedBackByNameFromZeros() throws Exception {
    Manifest m = Manifest.parse(Json.write(stateManifest()));
    assertEquals("state", m.streaming.mode);
    assertEquals(2, m.streaming.state.size());
    StreamLoop loop = new StreamLoop(m.streaming, loaded(m, folder(stateManifest())));
    float[] sum = new float[12];
    for (int k = 1; k <= 6; k++) {
      float[] frame = new float[12];
      for (int i = 0; i < 12; i++) {
        frame[i] = k * 10 + i;
        sum[i] += frame[i];
      }
      // the k-th logits are the sum of the first k frames: every state came back where it goes
      assertArrayEquals("frame " + k, sum, loop.push(frame), 0f);
    }
    loop.reset(); // a fresh stream starts from zeros again
    float[] one = new float[12];
    Arrays.fill(one, 1f);
    assertArrayEquals(one, loop.push(one), 0f);
    assertEquals(1, loop.frames());
  }

  @Test
  public void theHeadSeesTheWindowOldestFirstForEveryBatchRow() throws Exception {
    long window = 3;
    Map<String, Object> raw = cacheManifest(2, window);
    Manifest m = Manifest.parse(Json.write(raw));
    StreamJvmRunner runner = loaded(m, folder(raw));
    StreamLoop loop = new StreamLoop(m.streaming, runner);
    for (int t = 0; t < 7; t++) {
      float[] frame = new float[6]; // (2, 1, 3, 1, 1): row 0 holds t, row 1 holds 100 + t
      Arrays.fill(frame, 0, 3, t);
      Arrays.fill(frame, 3, 6, 100 + t);
      float[] logits = loop.push(frame);
      if (t < window - 1) {
        assertNull("the ring is not full at frame " + t, logits);
        continue;
      }
      float[] want = new float[6];
      for (int k = 0; k < window; k++) {
        want[k] = t - (window - 1) + k;
        want[(int) window + k] = 100 + t - (window - 1) + k;
      }
      assertArrayEquals("window ending at frame " + t, want, logits, 0f);
    }
    assertEquals(7 - (window - 1), runner.headInputs.size());
    assertEquals(7 + 5, runner.calls); // an encoder call per frame, the head once the ring is full
  }

  @Test
  public void aStreamManifestThatDoesNotFitIsOneClearError() throws Exception {
    Map<String, Object> raw = stateManifest();
    Map<String, Object> step = (Map<String, Object>) ((List<Object>) ((Map<String, Object>)
        raw.get("streaming")).get("programs")).get(0);
    ((List<Map<String, Object>>) step.get("outputs")).get(2).put("name", "acc_next");
    try {
      Manifest.parse(Json.write(raw));
      fail("a state with nothing to feed it back was accepted");
    } catch (Manifest.ManifestException e) {
      assertTrue(e.getMessage(), e.getMessage().startsWith("the step returns no acc_out"));
      assertTrue(e.getMessage(), e.getMessage().contains("mobilekit convert --streaming"));
    }
    Map<String, Object> cache = cacheManifest(1, 3);
    ((Map<String, Object>) cache.get("streaming")).put("window", 4L);
    try {
      Manifest.parse(Json.write(cache));
      fail("a head that does not take the window was accepted");
    } catch (Manifest.ManifestException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("is not 4 frames"));
    }
  }

  @Test
  public void aSessionTimesEachNewFrameAndReportsThePerFrameBlock() throws Exception {
    Map<String, Object> raw = cacheManifest(1, 4);
    File dir = folder(raw);
    StreamJvmRunner runner = new StreamJvmRunner();
    BenchmarkSession.Options o = new BenchmarkSession.Options();
    o.config = RunConfig.cpu(2, 1, 6);
    o.device = ReportTest.pixel8();
    o.includeLatencies = true;
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> runner, o,
        tmp.newFolder("results"), new ReportQueue(tmp.newFolder("q")), null);
    assertTrue(out.json, !out.failed());
    assertTrue(runner.closed);
    Map<String, Object> s = (Map<String, Object>) out.report.get("streaming");
    assertNotNull(out.json, s);
    assertEquals("frame-cache", s.get("mode"));
    assertEquals(4L, s.get("window"));
    // first frame + max(warm-up 1, window - 1 = 3) + 6 timed: each timed frame ran the head
    assertEquals(1L + 3 + 6, s.get("frames"));
    assertEquals(1 + 6, runner.headInputs.size()); // the ring fills on the last warm-up frame
    Map<String, Object> results = (Map<String, Object>) out.report.get("results");
    assertEquals(results.get("latency_ms"), s.get("frame_latency_ms"));
    assertEquals(6, ((List<Object>) results.get("latencies_ms")).size());
    assertNull(s.get("clip_latency_ms"));
    assertNull(out.report.get("numerics")); // a stream has no check set
    assertEquals(3L, out.report.get("schema_version"));
    Map<String, Object> golden = TestFiles.goldenObject("report_android_stream.json");
    Map<String, Object> ours = (Map<String, Object>) Json.parse(out.json);
    assertEquals(golden.keySet(), ours.keySet());
    assertEquals(ReportTest.keyShape(golden.get("streaming")), ReportTest.keyShape(ours.get("streaming")));
    File o2 = TestFiles.outDir();
    if (o2 != null) { // the pytest harness validates it with the collector's pydantic models
      Files.write(new File(o2, "stream_report.json").toPath(),
          out.json.getBytes(StandardCharsets.UTF_8));
    }
  }

  @Test
  public void aDamagedHeadOrARunnerWithoutStreamsIsAFailedReport() throws Exception {
    Map<String, Object> raw = stateManifest();
    File dir = folder(raw);
    BenchmarkSession.Options o = new BenchmarkSession.Options();
    o.config = RunConfig.cpu(0, 0, 2);
    o.device = ReportTest.pixel8();
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> new JvmRunner(), o,
        tmp.newFolder("r1"), new ReportQueue(tmp.newFolder("q1")), null);
    assertTrue(out.failed());
    assertTrue((String) out.report.get("error"),
        ((String) out.report.get("error")).startsWith("load failed: executorch runner does not "
            + "run streaming artifacts"));
    assertNull(out.report.get("streaming"));

    Map<String, Object> cache = cacheManifest(1, 2);
    File cacheDir = folder(cache);
    Files.write(new File(cacheDir, "model.head.pte").toPath(), new byte[] {0});
    out = BenchmarkSession.run(cacheDir, (m, units) -> new StreamJvmRunner(), o,
        tmp.newFolder("r2"), new ReportQueue(tmp.newFolder("q2")), null);
    assertTrue(out.failed());
    assertTrue((String) out.report.get("error"),
        ((String) out.report.get("error")).contains("program file model.head.pte has sha256"));
  }

  @Test
  public void theStreamingBlockOfAReportIsBuiltFromTheRun() throws Exception {
    Benchmark.Result r = new Benchmark.Result(1, 2, new double[] {3, 4, 5}, null);
    assertNull(Report.streaming(r)); // a clip run
    r.streamMode = "state";
    r.frames = 13;
    Map<String, Object> s = Report.streaming(r);
    assertNull(s.get("window"));
    assertEquals(13L, s.get("frames"));
    assertEquals(4.0, ((Map<?, ?>) s.get("frame_latency_ms")).get("median"));
    try {
      Report.build("android-x-00000001", Instant.now(), ReportTest.pixel8(), ReportTest.app(),
          ReportTest.artifactRef("m"), RunConfig.cpu(0, 1, 3), null, null, "load failed: x", null, s);
      fail("a streaming block without results was built");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage().contains("needs results"));
    }
  }
}
