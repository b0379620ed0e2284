package org.mobilekit.benchcore;

import java.io.IOException;

/**
 * A request the collector answered with an error, or could not be reached for.
 * {@link #status} is the HTTP status, or 0 when no answer came (network down, timeout).
 */
public final class CollectorException extends IOException {
  public final int status;

  public CollectorException(int status, String message) {
    super(message);
    this.status = status;
  }

  public CollectorException(String message, Throwable cause) {
    super(message, cause);
    this.status = 0;
  }

  /** Worth sending again later: no answer, a server error, or throttling. */
  public boolean isTransient() {
    return status == 0 || status >= 500 || status == 408 || status == 429;
  }

  /** The collector will never take this payload (invalid or too large): keep it, do not retry. */
  public boolean isRejected() {
    return status == 413 || status == 422;
  }
}
