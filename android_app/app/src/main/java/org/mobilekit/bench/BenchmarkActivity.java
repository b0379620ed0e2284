package org.mobilekit.bench;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.util.Log;
import android.widget.TextView;
import java.io.File;

/**
 * Headless benchmark from a desktop, no taps needed:
 *
 * <pre>
 * adb shell am start -n org.mobilekit.bench/.BenchmarkActivity \
 *   --es artifact_dir /data/local/tmp/mobilekit/vlf_b0-xnnpack \
 *   --ei warmup 10 --ei iterations 100 --ei threads 4 \
 *   --es server http://HOST:8765 --es token TOKEN [--es result_file NAME.json] \
 *   [--es compute_unit gpu]
 * </pre>
 *
 * <p>compute_unit: where to run the artifact, when not on its manifest's compute units; "gpu"
 * runs a .tflite through LiteRT's GPU delegate.
 *
 * Writes the report to files/mobilekit/results/ (see BenchmarkRun), posts it (or queues it),
 * logs one line under the tag "mobilekit" and finishes. `mobilekit android run` drives this.
 */
public class BenchmarkActivity extends Activity {
  static final String TAG = "mobilekit";

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    TextView status = new TextView(this);
    status.setPadding(32, 32, 32, 32);
    setContentView(status);

    Intent intent = getIntent();
    BenchmarkRun.Settings s = new BenchmarkRun.Settings();
    String dir = intent.getStringExtra("artifact_dir");
    s.warmup = intent.getIntExtra("warmup", 10);
    s.iterations = intent.getIntExtra("iterations", 100);
    s.threads = intent.getIntExtra("threads", 0);
    s.computeUnits = intent.getStringExtra("compute_unit");
    s.server = intent.getStringExtra("server");
    s.token = intent.getStringExtra("token");
    s.artifactId = intent.getStringExtra("artifact_id");
    String name = intent.getStringExtra("result_file");
    if (name != null && name.matches("[A-Za-z0-9_.-]+\\.json")) {
      s.resultName = name;
    }
    if (dir == null) {
      s.artifactDir = new File("/nonexistent");
      Log.e(TAG, "missing --es artifact_dir; see the README's Android section");
    } else {
      s.artifactDir = new File(dir);
    }
    status.setText("benchmarking " + s.artifactDir.getName() + " ...");
    Log.i(TAG, "benchmark " + s.artifactDir + " warmup=" + s.warmup + " iterations="
        + s.iterations + " threads=" + s.threads + " compute_unit="
        + (s.computeUnits != null ? s.computeUnits : "(the artifact's)") + " server=" + s.server);

    Thread worker = new Thread(() -> {
      BenchmarkRun.Done done = BenchmarkRun.execute(this, s, (phase, i, total) -> {
        if (i % 10 == 0) {
          runOnUiThread(() -> status.setText(phase + " " + i + "/" + total));
        }
      });
      Log.i(TAG, done.summary);
      runOnUiThread(() -> {
        status.setText(done.summary);
        finish();
      });
    }, "benchmark");
    worker.start();
  }
}
