package org.mobilekit.benchcore;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Assume;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The app's download path carries the check set: an artifact written by the real converter,
 * pushed to the real collector by `mobilekit push`, downloaded here and read by CheckSet.
 * Run by tests/test_collector_checkset.py, which sets MOBILEKIT_TEST_CHECKSET_ARTIFACT_ID
 * (skipped without it, as in the full benchcore run).
 */
public class CheckSetDownloadTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();
  private String url;
  private String artifactId;

  @Before
  public void collector() {
    url = System.getenv("MOBILEKIT_COLLECTOR_URL");
    artifactId = System.getenv("MOBILEKIT_TEST_CHECKSET_ARTIFACT_ID");
    Assume.assumeTrue("run through tests/test_collector_checkset.py",
        url != null && artifactId != null);
  }

  private CollectorClient client() {
    return new CollectorClient(url, System.getenv("MOBILEKIT_COLLECTOR_TOKEN")).withRetries(3, 50);
  }

  @Test
  public void theDownloadedArtifactCarriesItsCheckSet() throws Exception {
    File dir = tmp.newFolder("artifact");
    Manifest manifest = client().downloadArtifact(artifactId, dir);
    assertEquals(manifest.sha256, Sha256.of(manifest.modelFile(dir)));
    CheckSet cs = CheckSet.read(dir, manifest); // every file's size and sha256 checked

    // Byte for byte what the converter wrote.
    File original = new File(System.getenv("MOBILEKIT_TEST_CHECKSET_ARTIFACT_DIR"));
    List<String[]> files = CollectorClient.checkSetFiles(manifest);
    assertTrue(files.size() >= 2); // input and one output at least
    for (String[] f : files) {
      assertArrayEquals(f[0], Files.readAllBytes(new File(original, f[0]).toPath()),
          Files.readAllBytes(new File(dir, f[0]).toPath()));
    }
    // The expected outputs compared with themselves: the comparison runs on what came down.
    float[][][] got = new float[cs.count][cs.expected.length][];
    for (int i = 0; i < cs.count; i++) {
      for (int k = 0; k < cs.expected.length; k++) {
        got[i][k] = cs.expected[k][i];
      }
    }
    Map<String, Object> numerics = cs.compare(got);
    assertEquals(numerics.toString(), "agrees", numerics.get("status"));
    assertEquals((long) cs.count, numerics.get("samples"));
  }

  /** An artifact from before check sets: the download still works and CheckSet says there is
   * none, never a pass. */
  @Test
  public void anArtifactWithoutACheckSetStillDownloads() throws Exception {
    String old = System.getenv("MOBILEKIT_TEST_NO_CHECKSET_ARTIFACT_ID");
    Assume.assumeTrue(old != null);
    File dir = tmp.newFolder("old");
    Manifest manifest = client().downloadArtifact(old, dir);
    assertEquals(manifest.sha256, Sha256.of(manifest.modelFile(dir)));
    assertFalse(new File(dir, "checkset/input.bin").exists());
    try {
      CheckSet.read(dir, manifest);
      fail("a missing check set was read");
    } catch (CheckSet.CheckSetException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("no check set"));
    }
  }
}
