package org.mobilekit.benchcore;

import java.util.LinkedHashMap;
import java.util.Map;

/** The report's `device` object (wire.py Device). The Android app fills it from Build etc. */
public final class DeviceInfo {
  public String kind = "phone";
  public String make;
  public String model;
  public String modelIdentifier;
  public String os = "Android";
  public String osVersion;
  public String chip;
  public Integer cpuCores;
  public Integer ramMb;

  public DeviceInfo(String make, String model, String osVersion) {
    this.make = make;
    this.model = model;
    this.osVersion = osVersion;
  }

  public Map<String, Object> toJsonMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("kind", kind);
    m.put("make", make);
    m.put("model", model);
    m.put("model_identifier", modelIdentifier);
    m.put("os", os);
    m.put("os_version", osVersion);
    m.put("chip", chip);
    m.put("cpu_cores", cpuCores);
    m.put("ram_mb", ramMb);
    return m;
  }
}
