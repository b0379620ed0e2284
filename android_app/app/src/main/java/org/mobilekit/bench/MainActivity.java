package org.mobilekit.bench;

import android.app.Activity;
import android.content.SharedPreferences;
import android.os.Bundle;
import android.util.Log;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ListView;
import android.widget.TextView;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.mobilekit.benchcore.CollectorClient;
import org.mobilekit.benchcore.ReportQueue;

/**
 * The interactive app: collector URL and token, compute settings, the artifact list (from the
 * collector and already on the phone), Run, and the results of this session, newest first.
 * Network and benchmark work happen on one background thread, never on the UI thread.
 */
public class MainActivity extends Activity {
  private static final String PREFS = "mobilekit";

  /** One row of the artifact list: a collector artifact and/or a folder on the phone. */
  private static final class Entry {
    String id;
    String label;
    File localDir;
  }

  private final ExecutorService worker = Executors.newSingleThreadExecutor();
  private final List<Entry> entries = new ArrayList<>();
  private ArrayAdapter<String> artifactAdapter;
  private ArrayAdapter<String> resultAdapter;
  private EditText server;
  private EditText token;
  private EditText threads;
  private EditText warmup;
  private EditText iterations;
  private TextView status;
  private ListView artifactList;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    server = findViewById(R.id.server);
    token = findViewById(R.id.token);
    threads = findViewById(R.id.threads);
    warmup = findViewById(R.id.warmup);
    iterations = findViewById(R.id.iterations);
    status = findViewById(R.id.status);
    artifactList = findViewById(R.id.artifacts);
    ListView resultList = findViewById(R.id.results);

    artifactAdapter = new ArrayAdapter<>(this, android.R.layout.simple_list_item_single_choice);
    artifactList.setAdapter(artifactAdapter);
    resultAdapter = new ArrayAdapter<>(this, android.R.layout.simple_list_item_1);
    resultList.setAdapter(resultAdapter);

    SharedPreferences p = getSharedPreferences(PREFS, MODE_PRIVATE);
    server.setText(p.getString("server", ""));
    token.setText(p.getString("token", ""));
    threads.setText(p.getString("threads", "0"));
    warmup.setText(p.getString("warmup", "10"));
    iterations.setText(p.getString("iterations", "100"));

    ((Button) findViewById(R.id.refresh)).setOnClickListener(v -> refresh());
    ((Button) findViewById(R.id.run)).setOnClickListener(v -> runSelected());
    ((Button) findViewById(R.id.flush)).setOnClickListener(v -> flushQueue());
    refresh();
  }

  @Override
  protected void onDestroy() {
    worker.shutdown();
    super.onDestroy();
  }

  private void savePrefs() {
    getSharedPreferences(PREFS, MODE_PRIVATE).edit()
        .putString("server", text(server)).putString("token", text(token))
        .putString("threads", text(threads)).putString("warmup", text(warmup))
        .putString("iterations", text(iterations)).apply();
  }

  private static String text(EditText e) {
    return e.getText().toString().trim();
  }

  private CollectorClient client() {
    return text(server).isEmpty() ? null : new CollectorClient(text(server), text(token));
  }

  private void setStatus(String s) {
    runOnUiThread(() -> status.setText(s));
  }

  /** Lists local artifact folders and, when a server is set, the collector's artifacts. */
  private void refresh() {
    savePrefs();
    CollectorClient client = client();
    setStatus("listing artifacts ...");
    worker.execute(() -> {
      List<Entry> found = new ArrayList<>();
      String problem = null;
      File[] local = AppFiles.artifacts(this).listFiles(File::isDirectory);
      if (local != null) {
        for (File dir : local) {
          Entry e = new Entry();
          e.id = dir.getName();
          e.localDir = dir;
          e.label = dir.getName() + "  (on phone)";
          found.add(e);
        }
      }
      if (client != null) {
        try {
          for (Map<String, Object> a : client.listArtifacts()) {
            String id = String.valueOf(a.get("id"));
            Entry e = findById(found, id);
            if (e == null) {
              e = new Entry();
              e.id = id;
              found.add(e);
            }
            Object size = a.get("size_bytes");
            e.label = String.format(Locale.US, "%s  %s %s  %.1f MB%s", id, a.get("model"),
                a.get("target"), size instanceof Number ? ((Number) size).doubleValue() / 1e6 : 0.0,
                e.localDir != null ? "  (on phone)" : "");
          }
        } catch (Exception ex) {
          problem = ex.getMessage();
        }
      }
      String summary = (problem != null ? problem + " | " : "") + found.size() + " artifacts, "
          + AppFiles.queue(this).size() + " reports queued";
      runOnUiThread(() -> {
        entries.clear();
        entries.addAll(found);
        artifactAdapter.clear();
        for (Entry e : found) {
          artifactAdapter.add(e.label);
        }
        status.setText(summary);
      });
    });
  }

  private static Entry findById(List<Entry> list, String id) {
    for (Entry e : list) {
      if (e.id.equals(id)) {
        return e;
      }
    }
    return null;
  }

  private void runSelected() {
    int pos = artifactList.getCheckedItemPosition();
    if (pos < 0 || pos >= entries.size()) {
      status.setText("select an artifact first (Artifacts lists them)");
      return;
    }
    savePrefs();
    Entry entry = entries.get(pos);
    BenchmarkRun.Settings s = new BenchmarkRun.Settings();
    try {
      s.threads = Integer.parseInt(text(threads));
      s.warmup = Integer.parseInt(text(warmup));
      s.iterations = Integer.parseInt(text(iterations));
    } catch (NumberFormatException e) {
      status.setText("threads, warm-up and iterations must be whole numbers");
      return;
    }
    s.server = text(server);
    s.token = text(token);
    CollectorClient client = client();
    worker.execute(() -> {
      try {
        if (entry.localDir == null) {
          setStatus("downloading " + entry.id + " ...");
          File dir = new File(AppFiles.artifacts(this), entry.id);
          client.downloadArtifact(entry.id, dir); // sha256-checked
          entry.localDir = dir;
        }
        s.artifactDir = entry.localDir;
        s.artifactId = entry.localDir.getName().equals(entry.id) && client != null ? entry.id : null;
        BenchmarkRun.Done done = BenchmarkRun.execute(this, s, (phase, i, total) -> {
          if (i % 10 == 0) {
            setStatus(entry.id + ": " + phase + " " + i + "/" + total);
          }
        });
        Log.i(BenchmarkActivity.TAG, done.summary);
        runOnUiThread(() -> {
          resultAdapter.insert(done.summary, 0);
          status.setText(AppFiles.queue(this).size() + " reports queued");
        });
      } catch (Exception e) {
        setStatus("failed: " + e.getMessage());
      }
    });
  }

  private void flushQueue() {
    savePrefs();
    CollectorClient client = client();
    if (client == null) {
      status.setText("set the collector URL first");
      return;
    }
    worker.execute(() -> {
      ReportQueue.FlushResult r = AppFiles.queue(this).flush(client);
      setStatus(String.format(Locale.US, "sent %d, duplicates %d, rejected %d, still queued %d%s",
          r.sent, r.duplicates, r.rejected, r.remaining,
          r.stoppedBy != null ? " (" + r.stoppedBy.getMessage() + ")" : ""));
    });
  }
}
