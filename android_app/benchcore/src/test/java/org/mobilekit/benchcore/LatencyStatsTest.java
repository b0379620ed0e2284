package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

/** Expected values are numpy's / scipy.stats.trim_mean(x, 0.1)'s on the same inputs. */
public class LatencyStatsTest {
  private static final double EPS = 1e-9;

  @Test
  public void matchesNumpyOnKnownInputs() {
    double[] x = {5, 1, 4, 2, 3, 10, 6, 8, 7, 9, 100, 0.5};
    LatencyStats s = LatencyStats.of(x);
    assertEquals(0.5, s.min, EPS);
    assertEquals(5.5, s.median, EPS); // np.median
    assertEquals(12.958333333333334, s.mean, EPS);
    assertEquals(9.9, s.p90, EPS); // np.percentile(x, 90), linear
    assertEquals(26.41058683979253, s.std, EPS); // np.std, ddof=0
    assertEquals(100.0, s.max, EPS);
    assertEquals(5.5, s.trimmedMean, EPS); // 0.5 and 100 trimmed
  }

  @Test
  public void twoValues() {
    LatencyStats s = LatencyStats.of(new double[] {4, 2});
    assertEquals(3.0, s.median, EPS);
    assertEquals(3.8, s.p90, EPS);
    assertEquals(1.0, s.std, EPS);
    assertEquals(3.0, s.trimmedMean, EPS); // floor(0.2) = 0: nothing trimmed
  }

  @Test
  public void singleValueAndInputUntouched() {
    double[] x = {7.25};
    LatencyStats s = LatencyStats.of(x);
    assertEquals(7.25, s.min, EPS);
    assertEquals(7.25, s.p90, EPS);
    assertEquals(0.0, s.std, EPS);
    double[] y = {3, 1, 2};
    LatencyStats.of(y);
    assertEquals(3.0, y[0], 0); // the caller's array keeps its order
  }

  @Test
  public void trimsTenPercentFromEachEnd() {
    double[] x = new double[20];
    for (int i = 0; i < 20; i++) {
      x[i] = i + 1; // 1..20; trim 2 each end -> mean of 3..18 = 10.5
    }
    x[19] = 1000;
    assertEquals(10.5, LatencyStats.of(x).trimmedMean, EPS);
  }

  @Test(expected = IllegalArgumentException.class)
  public void emptyIsAnError() {
    LatencyStats.of(new double[0]);
  }

  @Test(expected = IllegalArgumentException.class)
  public void negativeIsAnError() {
    LatencyStats.of(new double[] {1, -1});
  }
}
