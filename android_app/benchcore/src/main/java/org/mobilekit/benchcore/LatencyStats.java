package org.mobilekit.benchcore;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Summary statistics of timed latencies, with the same definitions as numpy and scipy so a
 * phone's figures compare with the host's: median and p90 by linear interpolation between
 * order statistics (numpy.percentile's default), population standard deviation (ddof=0), and
 * the trimmed mean of scipy.stats.trim_mean(x, 0.1): floor(n/10) values cut from each end
 * (ExecuTorch's benchmark app reports the same 10% trimmed mean).
 */
public final class LatencyStats {
  public final double min;
  public final double median;
  public final double mean;
  public final double p90;
  public final double std;
  public final double max;
  public final double trimmedMean;

  private LatencyStats(double min, double median, double mean, double p90, double std,
      double max, double trimmedMean) {
    this.min = min;
    this.median = median;
    this.mean = mean;
    this.p90 = p90;
    this.std = std;
    this.max = max;
    this.trimmedMean = trimmedMean;
  }

  public static LatencyStats of(double[] values) {
    if (values == null || values.length == 0) {
      throw new IllegalArgumentException("no latencies to summarise: run at least one iteration");
    }
    double[] x = values.clone();
    Arrays.sort(x);
    int n = x.length;
    double sum = 0;
    for (double v : x) {
      if (Double.isNaN(v) || v < 0) {
        throw new IllegalArgumentException("latency must be a non-negative number, got " + v);
      }
      sum += v;
    }
    double mean = sum / n;
    double sq = 0;
    for (double v : x) {
      sq += (v - mean) * (v - mean);
    }
    int cut = (int) Math.floor(0.1 * n);
    double trimmedSum = 0;
    for (int i = cut; i < n - cut; i++) {
      trimmedSum += x[i];
    }
    double trimmed = trimmedSum / (n - 2 * cut);
    return new LatencyStats(x[0], percentile(x, 50), mean, percentile(x, 90),
        Math.sqrt(sq / n), x[n - 1], trimmed);
  }

  /** numpy.percentile(sorted, q) with the default linear method; `sorted` must be sorted. */
  public static double percentile(double[] sorted, double q) {
    double rank = q / 100.0 * (sorted.length - 1);
    int lo = (int) Math.floor(rank);
    int hi = Math.min(lo + 1, sorted.length - 1);
    double frac = rank - lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
  }

  /** The report's `latency_ms` object, keys as in the wire schema's Stats. */
  public Map<String, Object> toJsonMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("min", min);
    m.put("median", median);
    m.put("mean", mean);
    m.put("p90", p90);
    m.put("std", std);
    m.put("max", max);
    m.put("trimmed_mean", trimmedMean);
    return m;
  }
}
