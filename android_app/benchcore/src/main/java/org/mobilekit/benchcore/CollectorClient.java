package org.mobilekit.benchcore;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The collector's HTTP API (`mobilekit collect`) over java.net.HttpURLConnection, which both
 * Android and the JVM have. Every request carries `Authorization: Bearer TOKEN`.
 *
 * <ul>
 *   <li>GET /api/v1/artifacts, /api/v1/artifacts/{id}/manifest, /api/v1/artifacts/{id}/file,
 *       /api/v1/artifacts/{id}/checkset/{name} (downloads are checked against X-Checksum-Sha256
 *       and the manifest's sha256)
 *   <li>POST /api/v1/reports: 201 stored, 200 duplicate (same report_id: stored once), 401 bad
 *       token, 413 too large, 422 invalid. Transient failures are retried with the same body,
 *       hence the same report_id, so a retry can never store a run twice.
 * </ul>
 */
public final class CollectorClient {
  public static final String REPORTS = "/api/v1/reports";
  public static final String ARTIFACTS = "/api/v1/artifacts";

  private final String baseUrl;
  private final String token;
  private int maxAttempts = 4;
  private long backoffMs = 500;
  private int connectTimeoutMs = 5000;
  private int readTimeoutMs = 60000;

  /** Outcome of a report POST. */
  public static final class PostResult {
    public final String id;
    public final boolean duplicate;
    public final int status;
    public final int attempts;

    PostResult(String id, boolean duplicate, int status, int attempts) {
      this.id = id;
      this.duplicate = duplicate;
      this.status = status;
      this.attempts = attempts;
    }
  }

  /**
   * @param baseUrl e.g. http://192.168.1.20:8765 (http:// is assumed when no scheme is given)
   * @param token the collector's token, or null/empty when it runs without one
   */
  public CollectorClient(String baseUrl, String token) {
    if (baseUrl == null || baseUrl.trim().isEmpty()) {
      throw new IllegalArgumentException("no collector URL: pass e.g. http://HOST:8765");
    }
    String url = baseUrl.trim();
    if (!url.contains("://")) {
      url = "http://" + url;
    }
    while (url.endsWith("/")) {
      url = url.substring(0, url.length() - 1);
    }
    this.baseUrl = url;
    this.token = token == null ? "" : token.trim();
  }

  public String baseUrl() {
    return baseUrl;
  }

  /** Attempts per POST (first try included) and the first back-off, doubled each retry. */
  public CollectorClient withRetries(int maxAttempts, long backoffMs) {
    this.maxAttempts = Math.max(1, maxAttempts);
    this.backoffMs = Math.max(0, backoffMs);
    return this;
  }

  public CollectorClient withTimeouts(int connectMs, int readMs) {
    this.connectTimeoutMs = connectMs;
    this.readTimeoutMs = readMs;
    return this;
  }

  // ---------------------------------------------------------------------------- artifacts
  /** The collector's artifacts (id, model, target, sha256, size, file name ...), newest as served. */
  @SuppressWarnings("unchecked")
  public List<Map<String, Object>> listArtifacts() throws IOException {
    Object body = parseBody(request("GET", ARTIFACTS, null, 200).body, ARTIFACTS);
    if (body instanceof Map) { // tolerate {"artifacts": [...]} as well as a bare list
      Map<String, Object> m = (Map<String, Object>) body;
      body = m.containsKey("artifacts") ? m.get("artifacts") : m.get("items");
    }
    if (!(body instanceof List)) {
      throw new CollectorException(200, "collector at " + baseUrl + " sent no artifact list; "
          + "is it a mobilekit collector?");
    }
    List<Map<String, Object>> out = new ArrayList<>();
    for (Object o : (List<Object>) body) {
      if (o instanceof Map) {
        out.add((Map<String, Object>) o);
      }
    }
    return out;
  }

  public Manifest fetchManifest(String artifactId) throws IOException, Manifest.ManifestException {
    return Manifest.parse(fetchManifestJson(artifactId));
  }

  public String fetchManifestJson(String artifactId) throws IOException {
    return request("GET", artifactPath(artifactId) + "/manifest", null, 200).text();
  }

  /**
   * Downloads an artifact's file to {@code dest}, streaming through SHA-256. The file appears
   * only when its digest equals both the X-Checksum-Sha256 header (when sent) and
   * {@code expectedSha256} (when not null); otherwise nothing is left behind.
   */
  public File downloadFile(String artifactId, String expectedSha256, File dest)
      throws IOException {
    return download(artifactId, artifactPath(artifactId) + "/file", expectedSha256, dest, false);
  }

  /**
   * GET {@code path} to {@code dest} through SHA-256 (see {@link #downloadFile}); with
   * {@code missingOk}, a 404 or 410 returns null and leaves nothing.
   */
  private File download(String artifactId, String path, String expectedSha256, File dest,
      boolean missingOk) throws IOException {
    HttpURLConnection c = open("GET", path);
    File partial = new File(dest.getPath() + ".partial");
    try {
      int status = c.getResponseCode();
      if (missingOk && (status == 404 || status == 410)) {
        return null;
      }
      if (status != 200) {
        throw httpError(status, c, path);
      }
      String header = c.getHeaderField("X-Checksum-Sha256");
      MessageDigest md = Sha256.newDigest();
      File parent = dest.getAbsoluteFile().getParentFile();
      if (parent != null) {
        parent.mkdirs();
      }
      try (InputStream in = c.getInputStream(); OutputStream out = new FileOutputStream(partial)) {
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) > 0) {
          md.update(buf, 0, n);
          out.write(buf, 0, n);
        }
      }
      String actual = Sha256.hex(md.digest());
      String expected = expectedSha256 != null ? expectedSha256 : header;
      if ((header != null && !header.trim().equalsIgnoreCase(actual))
          || (expected != null && !expected.equalsIgnoreCase(actual))) {
        throw new CollectorException(200, "download of " + path
            + " is corrupt: sha256 " + actual + " != expected "
            + (expected != null ? expected : header) + "; download it again");
      }
      Files.move(partial.toPath(), dest.toPath(), StandardCopyOption.REPLACE_EXISTING);
      return dest;
    } catch (IOException e) {
      throw e instanceof CollectorException ? e
          : new CollectorException("download of artifact " + artifactId + " failed: " + e, e);
    } finally {
      partial.delete();
      c.disconnect();
    }
  }

  /**
   * Downloads an artifact into {@code dir} as `mobilekit convert` lays it out (manifest.json,
   * the model file and its check set under checkset/), checking each file against the
   * manifest's sha256. A check set the collector does not have (an artifact pushed before it
   * kept them: 404/410) is left out, so the run reports the check set missing.
   */
  public Manifest downloadArtifact(String artifactId, File dir)
      throws IOException, Manifest.ManifestException {
    String json = fetchManifestJson(artifactId);
    Manifest manifest = Manifest.parse(json);
    List<String[]> checkFiles = checkSetFiles(manifest);
    dir.mkdirs();
    downloadFile(artifactId, manifest.sha256, manifest.modelFile(dir));
    for (String[] f : checkFiles) {
      File dest = new File(dir, f[0]);
      dest.getParentFile().mkdirs();
      String name = dest.getName();
      download(artifactId, artifactPath(artifactId) + "/checkset/"
          + URLEncoder.encode(name, "UTF-8").replace("+", "%20"), f[1], dest, true);
    }
    Files.write(new File(dir, "manifest.json").toPath(), json.getBytes(StandardCharsets.UTF_8));
    return manifest;
  }

  /**
   * The check set's files as {manifest path, sha256}: input, outputs, labels. Each must be a
   * plain name directly in checkset/ (as the collector serves them), else ManifestException.
   */
  @SuppressWarnings("unchecked")
  static List<String[]> checkSetFiles(Manifest manifest) throws Manifest.ManifestException {
    List<String[]> out = new ArrayList<>();
    Object cs = manifest.raw.get("check_set");
    if (!(cs instanceof Map)) {
      return out;
    }
    Map<String, Object> m = (Map<String, Object>) cs;
    List<Object> entries = new ArrayList<>();
    entries.add(m.get("input"));
    if (m.get("outputs") instanceof List) {
      entries.addAll((List<Object>) m.get("outputs"));
    }
    if (m.get("labels") instanceof Map) {
      entries.add(m.get("labels"));
    }
    for (Object e : entries) {
      Object file = e instanceof Map ? ((Map<String, Object>) e).get("file") : null;
      Object sha = e instanceof Map ? ((Map<String, Object>) e).get("sha256") : null;
      String rel = file instanceof String ? (String) file : "";
      String name = rel.startsWith("checkset/") ? rel.substring("checkset/".length()) : "";
      if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".")
          || name.equals("..") || !(sha instanceof String)) {
        throw new Manifest.ManifestException("check set file " + rel + " is not a plain file in "
            + "checkset/ with a sha256; re-convert and push the artifact again");
      }
      out.add(new String[] {rel, (String) sha});
    }
    return out;
  }

  // ------------------------------------------------------------------------------ reports
  /**
   * Posts one report; transient failures are retried with the same body (same report_id).
   *
   * @throws CollectorException after the last attempt, or at once for a permanent error
   */
  @SuppressWarnings("unchecked")
  public PostResult postReport(String reportJson) throws CollectorException {
    byte[] body = reportJson.getBytes(StandardCharsets.UTF_8);
    CollectorException last = null;
    long wait = backoffMs;
    for (int attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        Response r = request("POST", REPORTS, body, -1);
        if (r.status == 200 || r.status == 201) {
          Object parsed = parseBody(r.body, REPORTS);
          Map<String, Object> m = parsed instanceof Map ? (Map<String, Object>) parsed : null;
          String id = m != null && m.get("id") != null ? String.valueOf(m.get("id")) : null;
          boolean dup = m != null && Boolean.TRUE.equals(m.get("duplicate"));
          return new PostResult(id, dup || r.status == 200, r.status, attempt);
        }
        last = httpError(r.status, r.text(), REPORTS);
      } catch (CollectorException e) {
        last = e;
      } catch (IOException e) {
        last = new CollectorException("collector at " + baseUrl + " unreachable (" + e
            + "); check the server URL and that `mobilekit collect` is running", e);
      }
      if (!last.isTransient() || attempt == maxAttempts) {
        break;
      }
      sleep(wait);
      wait *= 2;
    }
    throw last;
  }

  /** GET /api/v1/reports with optional filters, as parsed JSON (used by tests and the UI). */
  public Object listReports(String model, String device) throws IOException {
    StringBuilder q = new StringBuilder(REPORTS);
    String sep = "?";
    if (model != null) {
      q.append(sep).append("model=").append(URLEncoder.encode(model, "UTF-8"));
      sep = "&";
    }
    if (device != null) {
      q.append(sep).append("device=").append(URLEncoder.encode(device, "UTF-8"));
    }
    return parseBody(request("GET", q.toString(), null, 200).body, REPORTS);
  }

  // ------------------------------------------------------------------------------- HTTP
  private static final class Response {
    final int status;
    final byte[] body;

    Response(int status, byte[] body) {
      this.status = status;
      this.body = body;
    }

    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }
  }

  private static String artifactPath(String artifactId) throws IOException {
    return ARTIFACTS + "/" + URLEncoder.encode(artifactId, "UTF-8").replace("+", "%20");
  }

  private HttpURLConnection open(String method, String path) throws IOException {
    HttpURLConnection c = (HttpURLConnection) new URL(baseUrl + path).openConnection();
    c.setRequestMethod(method);
    c.setConnectTimeout(connectTimeoutMs);
    c.setReadTimeout(readTimeoutMs);
    c.setUseCaches(false);
    c.setRequestProperty("Accept", "application/json");
    if (!token.isEmpty()) {
      c.setRequestProperty("Authorization", "Bearer " + token);
    }
    return c;
  }

  /** One request; {@code expect} >= 0 turns any other status into a CollectorException. */
  private Response request(String method, String path, byte[] body, int expect)
      throws IOException {
    HttpURLConnection c = open(method, path);
    try {
      if (body != null) {
        c.setDoOutput(true);
        c.setRequestProperty("Content-Type", "application/json; charset=utf-8");
        c.setFixedLengthStreamingMode(body.length);
        try (OutputStream out = c.getOutputStream()) {
          out.write(body);
        }
      }
      int status = c.getResponseCode();
      InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
      byte[] data = in == null ? new byte[0] : readAll(in);
      if (expect >= 0 && status != expect) {
        throw httpError(status, new String(data, StandardCharsets.UTF_8), path);
      }
      return new Response(status, data);
    } catch (CollectorException e) {
      throw e;
    } catch (IOException e) {
      throw new CollectorException("collector at " + baseUrl + " unreachable (" + e
          + "); check the server URL and that `mobilekit collect` is running", e);
    } finally {
      c.disconnect();
    }
  }

  private CollectorException httpError(int status, HttpURLConnection c, String path) {
    String text = "";
    try (InputStream err = c.getErrorStream()) {
      if (err != null) {
        text = new String(readAll(err), StandardCharsets.UTF_8);
      }
    } catch (IOException ignored) {
      // the status alone still explains the failure
    }
    return httpError(status, text, path);
  }

  private CollectorException httpError(int status, String text, String path) {
    String detail = text.length() > 300 ? text.substring(0, 300) + "..." : text;
    String fix;
    switch (status) {
      case 401:
      case 403:
        fix = "the collector refused the token; use the token `mobilekit collect --token` was "
            + "started with";
        break;
      case 404:
        fix = "not found on " + baseUrl + "; check the id and that the URL is the collector's";
        break;
      case 413:
        fix = "report too large for the collector; run fewer iterations or drop latencies_ms";
        break;
      case 422:
        fix = "the collector rejected the report as invalid (app and collector schema versions "
            + "differ?)";
        break;
      default:
        fix = "collector error; see its log";
    }
    return new CollectorException(status, "HTTP " + status + " from " + path + ": " + fix
        + (detail.isEmpty() ? "" : " (" + detail.trim() + ")"));
  }

  private static Object parseBody(byte[] body, String path) throws CollectorException {
    try {
      return Json.parse(new String(body, StandardCharsets.UTF_8));
    } catch (Json.ParseException e) {
      throw new CollectorException(200, "collector sent invalid JSON for " + path + ": "
          + e.getMessage());
    }
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

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
