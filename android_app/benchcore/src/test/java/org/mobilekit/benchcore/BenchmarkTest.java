package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class BenchmarkTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private InputTensor input() {
    return InputTensor.build("video", new long[] {1, 2, 3, 64, 64}, "BTCHW", 1 / 255.0,
        new double[] {0.485, 0.456, 0.406}, new double[] {0.229, 0.224, 0.225}, 0);
  }

  @Test
  public void loadFirstWarmupAndTimedRunsInOrder() throws Exception {
    File model = tmp.newFile("model.pte");
    Files.write(model.toPath(), new byte[1000]);
    JvmRunner runner = new JvmRunner();
    List<String> phases = new ArrayList<>();
    double[] memory = {100};
    Benchmark.Result r = Benchmark.run(runner, model, input(), RunConfig.cpu(2, 3, 7),
        () -> memory[0] += 10, (phase, done, total) -> {
          if (done == 0) {
            phases.add(phase);
          }
        });
    assertEquals(1, runner.loads);
    assertEquals(1 + 3 + 7, runner.runs); // first inference + warm-up + timed
    assertEquals(7, r.latenciesMs.length);
    for (double v : r.latenciesMs) {
      assertTrue(v > 0);
    }
    assertTrue(r.loadMs > 0);
    assertTrue(r.firstInferenceMs > 0);
    assertTrue(r.stats.min <= r.stats.median && r.stats.median <= r.stats.p90);
    assertEquals(130.0, r.peakMemoryMb, 0); // sampled after load, first run and the timed runs
    assertEquals(java.util.Arrays.asList("warmup", "timed"), phases);
  }

  @Test
  public void noWarmupNoProbe() throws Exception {
    File model = tmp.newFile("m.pte");
    JvmRunner runner = new JvmRunner();
    Benchmark.Result r = Benchmark.run(runner, model, input(), RunConfig.cpu(0, 0, 1), null,
        null);
    assertEquals(2, runner.runs);
    assertNull(r.peakMemoryMb);
    assertNotNull(r.stats);
  }

  @Test
  public void loadFailureNamesThePhase() throws Exception {
    JvmRunner runner = new JvmRunner();
    runner.failLoad = "Error 0x20 (NotSupported) loading method forward";
    try {
      Benchmark.run(runner, tmp.newFile("m.pte"), input(), RunConfig.cpu(0, 1, 1), null, null);
      fail("load failure not reported");
    } catch (Benchmark.BenchmarkException e) {
      assertEquals("load failed: Error 0x20 (NotSupported) loading method forward",
          e.getMessage());
    }
    assertEquals(0, runner.runs);
  }

  @Test(expected = IllegalArgumentException.class)
  public void zeroIterationsIsRejected() {
    RunConfig.cpu(0, 0, 0);
  }
}
