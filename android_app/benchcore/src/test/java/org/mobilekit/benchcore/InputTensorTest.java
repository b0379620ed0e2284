package org.mobilekit.benchcore;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class InputTensorTest {
  private static final double[] MEAN = {0.485, 0.456, 0.406};
  private static final double[] STD = {0.229, 0.224, 0.225};

  @Test
  public void builtFromTheGoldenManifest() throws Exception {
    Manifest m = Manifest.parse(TestFiles.golden("manifest_xnnpack.json"));
    InputTensor t = InputTensor.fromManifest(m);
    assertEquals("video", t.name);
    assertArrayEquals(new long[] {1, 16, 3, 224, 224}, t.shape);
    assertEquals(16 * 3 * 224 * 224, t.numel());
  }

  @Test
  public void normalisesEachChannelWithItsMeanAndStd() {
    long[] shape = {1, 2, 3, 4, 4}; // BTCHW
    InputTensor t = InputTensor.build("video", shape, "BTCHW", 1 / 255.0, MEAN, STD, 0);
    int plane = 16;
    for (int i = 0; i < t.numel(); i++) {
      int c = (i / plane) % 3;
      double lo = (0 - MEAN[c]) / STD[c];
      double hi = (1 - MEAN[c]) / STD[c];
      assertTrue("element " + i + " channel " + c + " = " + t.data[i],
          t.data[i] >= lo - 1e-6 && t.data[i] <= hi + 1e-6);
      // undo the normalisation: a whole pixel value 0..255
      double pixel = (t.data[i] * STD[c] + MEAN[c]) * 255;
      assertEquals(Math.rint(pixel), pixel, 1e-3);
    }
  }

  @Test
  public void channelsLastLayoutUsesTheLastAxis() {
    long[] shape = {1, 2, 4, 4, 3}; // BTHWC
    InputTensor t = InputTensor.build("video", shape, "BTHWC", 1 / 255.0, MEAN, STD, 0);
    for (int i = 0; i < t.numel(); i++) {
      int c = i % 3;
      assertTrue(t.data[i] >= (0 - MEAN[c]) / STD[c] - 1e-6);
      assertTrue(t.data[i] <= (1 - MEAN[c]) / STD[c] + 1e-6);
    }
  }

  @Test
  public void firstPixelIsTheOneTheIosAppAlsoDraws() {
    // java.util.Random(0).nextInt(256) starts 187, 212, 61, ... (ios_app BenchCore's
    // InputAndZipTests asserts the same sequence for its copy of the generator)
    InputTensor t = InputTensor.build("v", new long[] {1, 1, 3, 2, 2}, "BTCHW", 1 / 255.0, MEAN,
        STD, 0);
    assertEquals((187 / 255.0 - 0.485) / 0.229, t.data[0], 1e-6);
    assertEquals((212 / 255.0 - 0.485) / 0.229, t.data[1], 1e-6);
  }

  @Test
  public void sameSeedSameClip() {
    long[] shape = {1, 2, 3, 8, 8};
    InputTensor a = InputTensor.build("v", shape, "BTCHW", 1 / 255.0, MEAN, STD, 0);
    InputTensor b = InputTensor.build("v", shape, "BTCHW", 1 / 255.0, MEAN, STD, 0);
    assertArrayEquals(a.data, b.data, 0f);
  }

  @Test(expected = IllegalArgumentException.class)
  public void meanMustMatchChannels() {
    InputTensor.build("v", new long[] {1, 2, 4, 8, 8}, "BTCHW", 1, MEAN, STD, 0);
  }
}
