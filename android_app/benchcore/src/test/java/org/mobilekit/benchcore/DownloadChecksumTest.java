package org.mobilekit.benchcore;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * A transfer that arrives damaged. The real collector serves good bytes (the download through
 * it is in CollectorIntegrationTest), so a JDK HttpServer plays a line that corrupts them.
 */
public class DownloadChecksumTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();
  private HttpServer server;
  private final byte[] good = "the artifact bytes".getBytes();
  private final byte[] damaged = "the artifact bytez".getBytes();
  private String auth;

  @Before
  public void start() throws Exception {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/api/v1/artifacts/", exchange -> {
      auth = exchange.getRequestHeaders().getFirst("Authorization");
      boolean corrupt = exchange.getRequestURI().getPath().contains("/bad/");
      byte[] body = corrupt ? damaged : good;
      exchange.getResponseHeaders().add("X-Checksum-Sha256", Sha256.of(good));
      exchange.sendResponseHeaders(200, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    });
    server.start();
  }

  @After
  public void stop() {
    server.stop(0);
  }

  private CollectorClient client() {
    return new CollectorClient("127.0.0.1:" + server.getAddress().getPort() + "/", "secret");
  }

  @Test
  public void goodBytesArriveAndTheTokenIsSent() throws Exception {
    File dest = new File(tmp.getRoot(), "dl/model.pte");
    client().downloadFile("good", Sha256.of(good), dest);
    assertArrayEquals(good, Files.readAllBytes(dest.toPath()));
    assertEquals("Bearer secret", auth);
  }

  @Test
  public void damagedBytesLeaveNothingBehind() throws Exception {
    File dest = new File(tmp.getRoot(), "model.pte");
    try {
      client().downloadFile("bad", null, dest);
      fail("a damaged download was accepted");
    } catch (CollectorException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("corrupt"));
    }
    assertFalse(dest.exists());
    assertFalse(new File(tmp.getRoot(), "model.pte.partial").exists());
  }

  @Test
  public void bytesThatDoNotMatchTheManifestAreRefused() throws Exception {
    File dest = new File(tmp.getRoot(), "model2.pte");
    try {
      client().downloadFile("good", Sha256.of(damaged), dest);
      fail("bytes not matching the manifest were accepted");
    } catch (CollectorException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("sha256"));
    }
    assertFalse(dest.exists());
  }
}
