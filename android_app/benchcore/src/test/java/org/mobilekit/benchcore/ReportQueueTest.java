package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.net.ServerSocket;
import java.time.Instant;
import java.util.List;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The offline queue on disk; the round trip to a real collector is in CollectorIntegrationTest. */
public class ReportQueueTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  static String report(String id) throws Exception {
    return Json.writePretty(Report.build(id, Instant.now(), ReportTest.pixel8(), ReportTest.app(),
        ReportTest.artifactRef("vlf_b0"), RunConfig.cpu(4, 10, 100), null, null,
        "load failed: test"));
  }

  /** A loopback URL where nothing listens: connections are refused at once. */
  static String deadUrl() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return "http://127.0.0.1:" + s.getLocalPort();
    }
  }

  @Test
  public void offlineReportsStayOnDiskAcrossRestarts() throws Exception {
    File dir = tmp.newFolder("queue");
    String id = "android-offline-0001";
    String json = report(id);
    CollectorClient dead = new CollectorClient(deadUrl(), "t").withRetries(2, 10);
    ReportQueue.FlushResult r = new ReportQueue(dir).deliver(dead, id, json);
    assertEquals(0, r.sent);
    assertEquals(1, r.remaining);
    assertNotNull(r.stoppedBy);
    assertTrue(r.stoppedBy.isTransient());
    assertTrue(r.stoppedBy.getMessage(), r.stoppedBy.getMessage().contains("unreachable"));

    ReportQueue reopened = new ReportQueue(dir); // the app restarted
    List<File> pending = reopened.pending();
    assertEquals(1, pending.size());
    assertEquals(id + ".json", pending.get(0).getName());
    assertEquals(json, TestFiles.read(pending.get(0)));
    assertEquals(id, ReportQueue.reportIdOf(TestFiles.read(pending.get(0))));
  }

  @Test
  public void withoutACollectorTheReportIsOnlyQueued() throws Exception {
    ReportQueue q = new ReportQueue(tmp.newFolder("q"));
    ReportQueue.FlushResult r = q.deliver(null, "android-noserver-01", report("android-noserver-01"));
    assertEquals(1, r.remaining);
    assertEquals(1, q.size());
  }

  @Test
  public void enqueueReplacesTheSameIdAndLeavesNoTempFiles() throws Exception {
    File dir = tmp.newFolder("q2");
    ReportQueue q = new ReportQueue(dir);
    q.enqueue("android-same-id-01", "{\"v\": 1}");
    q.enqueue("android-same-id-01", "{\"v\": 2}");
    assertEquals(1, q.size());
    assertEquals("{\"v\": 2}", TestFiles.read(q.pending().get(0)));
    assertEquals(1, dir.list().length);
  }

  @Test(expected = IllegalArgumentException.class)
  public void unsafeIdsAreRefused() throws Exception {
    new ReportQueue(tmp.newFolder("q3")).enqueue("../../evil", "{}");
  }
}
