package org.mobilekit.benchcore;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Map;

/** Where the tests find the collector's checked-in golden payloads. */
final class TestFiles {
  private TestFiles() {}

  /** mobilekit/collector/schemas/golden, found from the working directory upwards. */
  static File goldenDir() {
    String override = System.getenv("MOBILEKIT_GOLDEN_DIR");
    if (override != null) {
      return new File(override);
    }
    File dir = new File("").getAbsoluteFile();
    while (dir != null) {
      File g = new File(dir, "mobilekit/collector/schemas/golden");
      if (g.isDirectory()) {
        return g;
      }
      dir = dir.getParentFile();
    }
    throw new IllegalStateException("mobilekit/collector/schemas/golden not found above "
        + new File("").getAbsolutePath() + "; set MOBILEKIT_GOLDEN_DIR");
  }

  static String golden(String name) throws IOException {
    return read(new File(goldenDir(), name));
  }

  static Map<String, Object> goldenObject(String name) throws IOException {
    return Json.parseObject(golden(name));
  }

  static String read(File f) throws IOException {
    return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
  }

  /** Folder for files the pytest harness checks afterwards (MOBILEKIT_TEST_OUT), or null. */
  static File outDir() {
    String out = System.getenv("MOBILEKIT_TEST_OUT");
    if (out == null) {
      return null;
    }
    File f = new File(out);
    f.mkdirs();
    return f;
  }
}
