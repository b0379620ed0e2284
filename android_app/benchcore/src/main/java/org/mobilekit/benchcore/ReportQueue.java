package org.mobilekit.benchcore;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Reports waiting for the collector, one file per report (REPORT_ID.json) in a folder on disk,
 * so a run made offline, or while the collector is down, is sent later and never lost.
 *
 * <p>A report is written to the queue before it is sent (atomically: temp file + rename), and
 * removed only once the collector has answered 201 or 200 (duplicate). Reports the collector
 * will never take (422 invalid, 413 too large) move to {@code rejected/} instead of being
 * retried forever; they are kept for a person to look at.
 */
public final class ReportQueue {
  private final File dir;
  private final File rejectedDir;

  /** What one flush did. */
  public static final class FlushResult {
    public int sent;
    public int duplicates;
    public int rejected;
    public int remaining;
    /** Why the flush stopped early (collector unreachable, bad token), or null. */
    public CollectorException stoppedBy;
  }

  public ReportQueue(File dir) {
    this.dir = dir;
    this.rejectedDir = new File(dir, "rejected");
  }

  public File dir() {
    return dir;
  }

  /** Adds (or replaces) the report with this id. */
  public File enqueue(String reportId, String json) throws IOException {
    checkId(reportId);
    if (!dir.isDirectory() && !dir.mkdirs()) {
      throw new IOException("cannot create the report queue folder " + dir);
    }
    File target = new File(dir, reportId + ".json");
    File tmp = new File(dir, reportId + ".json.tmp");
    Files.write(tmp.toPath(), json.getBytes(StandardCharsets.UTF_8));
    Files.move(tmp.toPath(), target.toPath(), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    return target;
  }

  /** Queued report files, oldest first. */
  public List<File> pending() {
    File[] files = dir.listFiles((d, name) -> name.endsWith(".json"));
    if (files == null) {
      return new ArrayList<>();
    }
    List<File> list = new ArrayList<>(Arrays.asList(files));
    list.sort(Comparator.comparingLong(File::lastModified).thenComparing(File::getName));
    return list;
  }

  public List<File> rejected() {
    File[] files = rejectedDir.listFiles((d, name) -> name.endsWith(".json"));
    return files == null ? new ArrayList<>() : Arrays.asList(files);
  }

  public int size() {
    return pending().size();
  }

  /**
   * Sends every queued report, oldest first. Stops at the first transient failure or auth
   * error (the rest would fail the same way) and leaves those reports queued.
   */
  public FlushResult flush(CollectorClient client) {
    FlushResult result = new FlushResult();
    List<File> files = pending();
    for (int i = 0; i < files.size(); i++) {
      File f = files.get(i);
      String json;
      try {
        json = new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
      } catch (IOException e) {
        continue; // vanished under us (another flush sent it)
      }
      try {
        CollectorClient.PostResult r = client.postReport(json);
        if (r.duplicate) {
          result.duplicates++;
        } else {
          result.sent++;
        }
        f.delete();
      } catch (CollectorException e) {
        if (e.isRejected()) {
          moveToRejected(f, e);
          result.rejected++;
          continue;
        }
        result.stoppedBy = e;
        break;
      }
    }
    result.remaining = size();
    return result;
  }

  /**
   * Queues the report, then flushes the queue (this report included): the report is on disk
   * before the network is touched.
   */
  public FlushResult deliver(CollectorClient client, String reportId, String json)
      throws IOException {
    enqueue(reportId, json);
    if (client == null) {
      FlushResult r = new FlushResult();
      r.remaining = size();
      return r;
    }
    return flush(client);
  }

  /** The report_id of a report JSON, or null if it has none. */
  public static String reportIdOf(String json) {
    try {
      Map<String, Object> m = Json.parseObject(json);
      Object id = m.get("report_id");
      return id instanceof String ? (String) id : null;
    } catch (Json.ParseException e) {
      return null;
    }
  }

  private void moveToRejected(File f, CollectorException why) {
    rejectedDir.mkdirs();
    try {
      Files.move(f.toPath(), new File(rejectedDir, f.getName()).toPath(),
          StandardCopyOption.REPLACE_EXISTING);
      Files.write(new File(rejectedDir, f.getName() + ".reason.txt").toPath(),
          String.valueOf(why.getMessage()).getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      // leave it queued: losing a report is worse than retrying it
    }
  }

  private static void checkId(String reportId) {
    if (reportId == null || !reportId.matches("[A-Za-z0-9_.:-]{8,64}")) {
      throw new IllegalArgumentException("report_id must be 8-64 characters of A-Z a-z 0-9 _ . : -,"
          + " got " + reportId);
    }
  }
}
