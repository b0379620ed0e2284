package org.mobilekit.benchcore;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.file.Files;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class ManifestTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  @Test
  public void parsesTheGoldenManifest() throws Exception {
    Manifest m = Manifest.parse(TestFiles.golden("manifest_xnnpack.json"));
    assertEquals("vlf_b0", m.model);
    assertEquals("vlf", m.family);
    assertEquals(254, m.numClasses);
    assertEquals("xnnpack", m.target);
    assertEquals("executorch", m.runtime);
    assertEquals("cpu", m.computeUnits);
    assertEquals("xnnpack", m.delegate);
    assertEquals("fp32", m.precision);
    assertNull(m.quantization);
    assertEquals("model.pte", m.file);
    assertEquals(44123456L, m.sizeBytes);
    assertEquals("a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", m.sha256);
    assertEquals("video", m.inputName);
    assertArrayEquals(new long[] {1, 16, 3, 224, 224}, m.inputShape);
    assertEquals("BTCHW", m.inputLayout);
    assertEquals("float32", m.inputDtype);
    assertEquals(1 / 255.0, m.inputScale, 1e-15);
    assertArrayEquals(new double[] {0.485, 0.456, 0.406}, m.inputMean, 0);
    assertArrayEquals(new double[] {0.229, 0.224, 0.225}, m.inputStd, 0);
    assertEquals("tsn", m.frameSampling);
  }

  @Test
  public void readsQuantizationScheme() throws Exception {
    Map<String, Object> raw = TestFiles.goldenObject("manifest_xnnpack.json");
    Map<String, Object> q = new java.util.LinkedHashMap<>();
    q.put("scheme", "int8");
    q.put("tool", "torchao pt2e + XNNPACKQuantizer");
    raw.put("quantization", q);
    assertEquals("int8", Manifest.parse(Json.write(raw)).quantization);
  }

  @Test
  public void badManifestsSayWhatIsWrong() throws Exception {
    expectError(mutate("schema_version", 2L), "schema_version 2 is not supported");
    expectError(mutate("model", null), "no model");
    expectError(mutate("file", "../etc/passwd"), "plain file name");
    expectError(mutate("sha256", "ABC"), "64 lowercase hex");
    expectError("{\"schema_version\": 1,", "not valid JSON");
  }

  /** The same cases the collector and the iOS reader are tested on. */
  @Test
  public void appliesTheSharedNamingRule() throws Exception {
    Map<String, Object> names = Json.parseObject(
        TestFiles.read(new File(TestFiles.goldenDir().getParentFile(), "artifact_names.json")));
    for (Object good : (java.util.List<?>) names.get("good_files")) {
      assertEquals(good, Manifest.parse(mutate("file", good)).file);
    }
    for (Object bad : (java.util.List<?>) names.get("bad_files")) {
      expectError(mutate("file", bad), "plain file name");
    }
    for (Object good : (java.util.List<?>) names.get("good_models")) {
      assertEquals(good, Manifest.parse(mutate("model", good)).model);
    }
    for (Object bad : (java.util.List<?>) names.get("bad_models")) {
      expectError(mutate("model", bad), "letters, digits");
    }
  }

  @Test
  public void loadsFromAnArtifactFolder() throws Exception {
    File dir = tmp.newFolder("vlf_b0-xnnpack");
    try {
      Manifest.load(dir);
      fail("loaded a folder without manifest.json");
    } catch (Manifest.ManifestException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("mobilekit convert"));
    }
    Files.write(new File(dir, "manifest.json").toPath(),
        TestFiles.golden("manifest_xnnpack.json").getBytes("UTF-8"));
    Manifest m = Manifest.load(dir);
    assertEquals(new File(dir, "model.pte"), m.modelFile(dir));
  }

  private static String mutate(String key, Object value) throws Exception {
    Map<String, Object> raw = TestFiles.goldenObject("manifest_xnnpack.json");
    raw.put(key, value);
    return Json.write(raw);
  }

  private static void expectError(String json, String fragment) {
    try {
      Manifest.parse(json);
      fail("accepted a bad manifest; expected: " + fragment);
    } catch (Manifest.ManifestException e) {
      assertTrue(e.getMessage(), e.getMessage().contains(fragment));
    }
  }
}
