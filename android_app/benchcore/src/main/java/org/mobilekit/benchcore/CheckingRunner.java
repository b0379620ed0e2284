package org.mobilekit.benchcore;

/**
 * A runner that can also run a given clip and return its outputs, so the session checks the
 * artifact's check set (see {@link CheckSet}) after the first inference and before timing.
 * A runner that is not one reports no numerics (null: not checked, never a pass).
 */
public interface CheckingRunner extends ModelRunner {
  /**
   * Outputs for one check-set clip (float32, the manifest's input layout, flattened), in the
   * manifest's output order, each flattened. Called after load(); not timed.
   */
  float[][] outputs(float[] clip) throws Exception;
}
