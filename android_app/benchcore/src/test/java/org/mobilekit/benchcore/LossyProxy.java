package org.mobilekit.benchcore;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback HTTP relay in front of the real collector that loses the first N responses: the
 * request reaches the collector (the report is stored) but the phone never hears back, the
 * case an idempotent retry exists for. One request per connection (Connection: close).
 */
final class LossyProxy implements AutoCloseable {
  private final ServerSocket server;
  private final String upstreamHost;
  private final int upstreamPort;
  final AtomicInteger responsesToDrop;
  final AtomicInteger requests = new AtomicInteger();

  LossyProxy(String upstreamHost, int upstreamPort, int drop) throws IOException {
    this.upstreamHost = upstreamHost;
    this.upstreamPort = upstreamPort;
    this.responsesToDrop = new AtomicInteger(drop);
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::serve, "lossy-proxy");
    t.setDaemon(true);
    t.start();
  }

  String url() {
    return "http://127.0.0.1:" + server.getLocalPort();
  }

  private void serve() {
    while (!server.isClosed()) {
      try (Socket client = server.accept()) {
        byte[] request = readRequest(client.getInputStream());
        requests.incrementAndGet();
        byte[] response;
        try (Socket up = new Socket(upstreamHost, upstreamPort)) {
          up.getOutputStream().write(request);
          up.getOutputStream().flush();
          response = readAll(up.getInputStream());
        }
        if (responsesToDrop.getAndDecrement() > 0) {
          continue; // the collector has the report; the client gets a closed connection
        }
        OutputStream out = client.getOutputStream();
        out.write(response);
        out.flush();
      } catch (IOException e) {
        if (server.isClosed()) {
          return;
        }
      }
    }
  }

  /** Headers (Connection rewritten to close) and the Content-Length body. */
  private static byte[] readRequest(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("client closed mid-request");
      }
      head.write(b);
      matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
    }
    String headers = new String(head.toByteArray(), StandardCharsets.ISO_8859_1);
    int length = 0;
    StringBuilder rewritten = new StringBuilder();
    for (String line : headers.split("\r\n")) {
      if (line.isEmpty()) {
        continue;
      }
      String lower = line.toLowerCase();
      if (lower.startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
      if (!lower.startsWith("connection:")) {
        rewritten.append(line).append("\r\n");
      }
    }
    rewritten.append("Connection: close\r\n\r\n");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(rewritten.toString().getBytes(StandardCharsets.ISO_8859_1));
    byte[] body = new byte[length];
    int got = 0;
    while (got < length) {
      int n = in.read(body, got, length - got);
      if (n < 0) {
        throw new IOException("client closed mid-body");
      }
      got += n;
    }
    out.write(body);
    return out.toByteArray();
  }

  private static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) > 0) {
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
