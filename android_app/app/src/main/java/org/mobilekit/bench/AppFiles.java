package org.mobilekit.bench;

import android.content.Context;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.mobilekit.benchcore.ReportQueue;

/**
 * Where the app keeps things, under its files dir (readable with `adb shell run-as` on a debug
 * build) and mirrored to its external files dir (readable with plain `adb pull`):
 * mobilekit/results (result.json, named results), mobilekit/queue (reports not yet sent),
 * mobilekit/artifacts (downloaded artifact folders).
 */
final class AppFiles {
  private AppFiles() {}

  static File root(Context ctx) {
    return new File(ctx.getFilesDir(), "mobilekit");
  }

  static File results(Context ctx) {
    return new File(root(ctx), "results");
  }

  static File artifacts(Context ctx) {
    return new File(root(ctx), "artifacts");
  }

  static ReportQueue queue(Context ctx) {
    return new ReportQueue(new File(root(ctx), "queue"));
  }

  /** Writes results/NAME and its copy in the external files dir (when there is one). */
  static void writeResult(Context ctx, String name, String text) throws IOException {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    File dir = results(ctx);
    dir.mkdirs();
    Files.write(new File(dir, name).toPath(), bytes);
    File ext = ctx.getExternalFilesDir(null);
    if (ext != null) {
      File extDir = new File(ext, "mobilekit/results");
      extDir.mkdirs();
      Files.write(new File(extDir, name).toPath(), bytes);
    }
  }
}
