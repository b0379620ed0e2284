package org.mobilekit.benchcore;

import java.util.Random;

/**
 * The benchmark input built from the manifest's input spec: a clip of pseudo-random pixels
 * (0..255, fixed seed, so every run and every device sees the same values) scaled and
 * normalised with the manifest's scale, mean and std along the layout's channel axis, i.e.
 * exactly what the app's preprocessing would feed the model. Latency does not depend on
 * pixel values for these models, but a NaN- or zero-filled input could take fast paths.
 */
public final class InputTensor {
  public final String name;
  public final long[] shape;
  public final float[] data;

  public InputTensor(String name, long[] shape, float[] data) {
    this.name = name;
    this.shape = shape.clone();
    this.data = data;
  }

  public static InputTensor fromManifest(Manifest manifest) {
    return build(manifest.inputName, manifest.inputShape, manifest.inputLayout,
        manifest.inputScale, manifest.inputMean, manifest.inputStd, 0L);
  }

  public static InputTensor build(String name, long[] shape, String layout, double scale,
      double[] mean, double[] std, long seed) {
    long count = 1;
    for (long d : shape) {
      if (d <= 0) {
        throw new IllegalArgumentException("input shape must be static and positive, got "
            + java.util.Arrays.toString(shape));
      }
      count *= d;
    }
    if (count > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("input too large: " + count + " elements");
    }
    int channelAxis = layout == null ? -1 : layout.indexOf('C');
    if (layout != null && layout.length() != shape.length) {
      throw new IllegalArgumentException("layout " + layout + " does not match shape rank "
          + shape.length);
    }
    // stride of the channel axis and its size: element i has channel (i / stride) % channels
    long stride = 1;
    for (int a = shape.length - 1; a > channelAxis && channelAxis >= 0; a--) {
      stride *= shape[a];
    }
    int channels = channelAxis >= 0 ? (int) shape[channelAxis] : 1;
    if (channelAxis >= 0 && (mean.length != channels || std.length != channels)) {
      throw new IllegalArgumentException("mean/std have " + mean.length + "/" + std.length
          + " values but the input has " + channels + " channels");
    }
    float[] data = new float[(int) count];
    Random random = new Random(seed);
    for (int i = 0; i < data.length; i++) {
      int c = channelAxis >= 0 ? (int) ((i / stride) % channels) : 0;
      double pixel = random.nextInt(256) * scale;
      double m = mean.length > 0 ? mean[Math.min(c, mean.length - 1)] : 0.0;
      double s = std.length > 0 ? std[Math.min(c, std.length - 1)] : 1.0;
      data[i] = (float) ((pixel - m) / s);
    }
    return new InputTensor(name, shape, data);
  }

  public int numel() {
    return data.length;
  }
}
