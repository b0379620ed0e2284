package org.mobilekit.benchcore;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.Assume;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The Java client against the real Python collector (`mobilekit collect`), started by
 * tests/test_android_benchcore.py, which passes its URL, token and the id of an artifact it
 * uploaded in MOBILEKIT_COLLECTOR_URL / _TOKEN / MOBILEKIT_TEST_ARTIFACT_ID.
 */
public class CollectorIntegrationTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();
  private String url;
  private String token;

  @Before
  public void collector() {
    url = System.getenv("MOBILEKIT_COLLECTOR_URL");
    token = System.getenv("MOBILEKIT_COLLECTOR_TOKEN");
    if (url == null && System.getenv("MOBILEKIT_REQUIRE_COLLECTOR") != null) {
      fail("MOBILEKIT_COLLECTOR_URL is not set but MOBILEKIT_REQUIRE_COLLECTOR is");
    }
    Assume.assumeTrue("no collector: run through tests/test_android_benchcore.py", url != null);
  }

  private CollectorClient client() {
    return new CollectorClient(url, token).withRetries(3, 50);
  }

  /** A unique model name per test, so the API's model filter finds only this test's reports. */
  private static String uniqueModel(String what) {
    return "junit_" + what + "_" + UUID.randomUUID().toString().substring(0, 8);
  }

  private static String failedReport(String id, String model) throws Exception {
    return Json.write(Report.build(id, Instant.now(), ReportTest.pixel8(), ReportTest.app(),
        ReportTest.artifactRef(model), RunConfig.cpu(4, 10, 100), null, null, "load failed: test"));
  }

  @SuppressWarnings("unchecked")
  private List<Map<String, Object>> storedReports(String model) throws Exception {
    Map<String, Object> page = (Map<String, Object>) client().listReports(model, null);
    return (List<Map<String, Object>>) page.get("reports");
  }

  private static void recordPosted(String id) throws Exception {
    File out = TestFiles.outDir();
    if (out != null) { // the pytest harness checks each of these is stored exactly once
      Files.write(new File(out, "posted_ids.txt").toPath(),
          (id + "\n").getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    }
  }

  @Test
  public void downloadTheArtifactRunItAndFindTheReport() throws Exception {
    String artifactId = System.getenv("MOBILEKIT_TEST_ARTIFACT_ID");
    assertNotNull("MOBILEKIT_TEST_ARTIFACT_ID not set", artifactId);
    List<String> ids = new ArrayList<>();
    for (Map<String, Object> a : client().listArtifacts()) {
      ids.add(String.valueOf(a.get("id")));
    }
    assertTrue(artifactId + " not in " + ids, ids.contains(artifactId));

    File dir = tmp.newFolder("artifact");
    Manifest manifest = client().downloadArtifact(artifactId, dir);
    assertEquals(manifest.sha256, Sha256.of(manifest.modelFile(dir)));
    assertTrue(new File(dir, "manifest.json").isFile());

    BenchmarkSession.Options opts = new BenchmarkSession.Options();
    opts.config = RunConfig.cpu(2, 2, 10);
    opts.device = ReportTest.pixel8();
    opts.artifactId = artifactId;
    opts.thermal = () -> "none";
    JvmRunner runner = new JvmRunner();
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (m, units) -> runner, opts,
        tmp.newFolder("results"), new ReportQueue(tmp.newFolder("queue")), client());
    assertFalse(out.json, out.failed());
    assertTrue(runner.closed);
    assertEquals(1, out.delivery.sent);
    assertEquals(0, out.delivery.remaining);
    assertEquals(out.json, TestFiles.read(out.resultFile));
    recordPosted(out.reportId);

    List<Map<String, Object>> stored = storedReports(manifest.model);
    int found = 0;
    for (Map<String, Object> r : stored) {
      if (out.reportId.equals(r.get("report_id"))) {
        found++;
        @SuppressWarnings("unchecked")
        Map<String, Object> artifact = (Map<String, Object>) r.get("artifact");
        assertEquals(artifactId, artifact.get("artifact_id"));
        assertEquals(out.report.get("results"), r.get("results"));
      }
    }
    assertEquals(1, found);
  }

  /** A .tflite run on the GPU (LiteRT's GPU delegate): the collector stores it as such. */
  @SuppressWarnings("unchecked")
  @Test
  public void aGpuRunIsStoredWithItsComputeUnits() throws Exception {
    String model = uniqueModel("gpu");
    File dir = tmp.newFolder("tflite");
    byte[] bytes = {1, 2, 3, 4};
    Files.write(new File(dir, "model.tflite").toPath(), bytes);
    Map<String, Object> m = TestFiles.goldenObject("manifest_xnnpack.json");
    m.put("model", model);
    m.put("target", "tflite");
    m.put("runtime", "litert");
    m.put("delegate", null);
    m.put("file", "model.tflite");
    m.put("sha256", Sha256.of(bytes));
    m.put("size_bytes", (long) bytes.length);
    ((Map<String, Object>) m.get("input")).put("shape", java.util.Arrays.asList(1L, 1L, 3L, 2L, 2L));
    Files.write(new File(dir, "manifest.json").toPath(),
        Json.writePretty(m).getBytes(StandardCharsets.UTF_8));

    BenchmarkSession.Options opts = new BenchmarkSession.Options();
    opts.config = RunConfig.cpu(0, 1, 3);
    opts.computeUnits = "gpu";
    opts.device = ReportTest.pixel8();
    JvmRunner runner = new JvmRunner();
    runner.runtime = "litert";
    BenchmarkSession.Outcome out = BenchmarkSession.run(dir, (man, units) -> runner, opts,
        tmp.newFolder("results"), new ReportQueue(tmp.newFolder("queue")), client());
    assertFalse(out.json, out.failed());
    assertEquals(1, out.delivery.sent);
    recordPosted(out.reportId);

    List<Map<String, Object>> stored = storedReports(model);
    assertEquals(1, stored.size());
    Map<String, Object> config = (Map<String, Object>) stored.get(0).get("config");
    assertEquals("gpu", config.get("compute_units"));
    assertEquals("tflite", ((Map<String, Object>) stored.get(0).get("artifact")).get("target"));
    assertEquals("litert", ((Map<String, Object>) stored.get(0).get("app")).get("runtime"));
  }

  @Test
  public void aRetryAfterALostResponseIsStoredOnce() throws Exception {
    URL u = new URL(url);
    String model = uniqueModel("retry");
    String id = "android-retry-" + UUID.randomUUID();
    try (LossyProxy proxy = new LossyProxy(u.getHost(), u.getPort(), 1)) {
      CollectorClient viaProxy = new CollectorClient(proxy.url(), token).withRetries(3, 50);
      CollectorClient.PostResult r = viaProxy.postReport(failedReport(id, model));
      assertEquals(2, r.attempts); // the first answer was lost
      assertEquals(2, proxy.requests.get());
      assertTrue("the retry must be seen as a duplicate", r.duplicate);
      assertEquals(id, r.id);
    }
    recordPosted(id);
    assertEquals(1, storedReports(model).size());
  }

  @Test
  public void theSameReportTwiceIsADuplicate() throws Exception {
    String model = uniqueModel("dup");
    String id = "android-dup-" + UUID.randomUUID();
    String json = failedReport(id, model);
    CollectorClient.PostResult first = client().postReport(json);
    CollectorClient.PostResult second = client().postReport(json);
    assertEquals(201, first.status);
    assertFalse(first.duplicate);
    assertEquals(200, second.status);
    assertTrue(second.duplicate);
    recordPosted(id);
    assertEquals(1, storedReports(model).size());
  }

  @Test
  public void queuedOfflineThenFlushedToTheCollector() throws Exception {
    File dir = tmp.newFolder("queue");
    String model = uniqueModel("offline");
    String id = "android-offline-" + UUID.randomUUID();
    CollectorClient dead = new CollectorClient(ReportQueueTest.deadUrl(), token).withRetries(1, 0);
    assertEquals(1, new ReportQueue(dir).deliver(dead, id, failedReport(id, model)).remaining);
    assertEquals(0, storedReports(model).size());

    ReportQueue.FlushResult r = new ReportQueue(dir).flush(client()); // later, back online
    assertEquals(1, r.sent);
    assertEquals(0, r.remaining);
    recordPosted(id);
    List<Map<String, Object>> stored = storedReports(model);
    assertEquals(1, stored.size());
    assertEquals(id, stored.get(0).get("report_id"));
  }

  @Test
  public void aWrongTokenKeepsTheReportQueued() throws Exception {
    String id = "android-token-" + UUID.randomUUID();
    CollectorClient wrong = new CollectorClient(url, "not-the-token").withRetries(3, 50);
    try {
      wrong.postReport(failedReport(id, uniqueModel("token")));
      fail("a wrong token was accepted");
    } catch (CollectorException e) {
      assertEquals(401, e.status);
      assertFalse(e.isTransient());
      assertTrue(e.getMessage(), e.getMessage().contains("token"));
    }
    ReportQueue q = new ReportQueue(tmp.newFolder("q"));
    ReportQueue.FlushResult r = q.deliver(wrong, id, failedReport(id, uniqueModel("token")));
    assertEquals(1, r.remaining);
    assertEquals(401, r.stoppedBy.status);
  }

  @Test
  public void anInvalidReportIsSetAsideNotRetried() throws Exception {
    Map<String, Object> bad = Json.parseObject(failedReport("android-invalid-0001", "m"));
    bad.put("error", null); // neither results nor error: the collector says 422
    ReportQueue q = new ReportQueue(tmp.newFolder("q"));
    ReportQueue.FlushResult r = q.deliver(client(), "android-invalid-0001", Json.write(bad));
    assertEquals(1, r.rejected);
    assertEquals(0, r.remaining);
    assertEquals(1, q.rejected().size());
    assertTrue(new File(q.dir(), "rejected/android-invalid-0001.json.reason.txt").isFile());
  }

  @Test
  public void anUnknownArtifactIsAClear404() throws Exception {
    try {
      client().downloadArtifact("no-such-artifact", tmp.newFolder("x"));
      fail("downloaded a missing artifact");
    } catch (CollectorException e) {
      assertEquals(404, e.status);
    }
  }

  @Test
  public void downloadedBytesEqualWhatWasUploaded() throws Exception {
    String artifactId = System.getenv("MOBILEKIT_TEST_ARTIFACT_ID");
    String source = System.getenv("MOBILEKIT_TEST_ARTIFACT_DIR");
    Assume.assumeTrue(source != null);
    File dir = tmp.newFolder("dl");
    Manifest m = client().downloadArtifact(artifactId, dir);
    assertArrayEquals(Files.readAllBytes(new File(source, m.file).toPath()),
        Files.readAllBytes(m.modelFile(dir).toPath()));
  }
}
