package org.mobilekit.benchcore;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
  @Test
  public void parsesAllValueKinds() {
    Map<String, Object> m = Json.parseObject(
        "{\"s\": \"a\\\"b\\\\c\\n\\u00e9\", \"i\": -12, \"d\": 2.1e-05, \"t\": true, "
            + "\"f\": false, \"n\": null, \"l\": [1, 2.5, \"x\"], \"o\": {}}");
    assertEquals("a\"b\\c\n\u00e9", m.get("s"));
    assertEquals(-12L, m.get("i"));
    assertEquals(2.1e-05, (Double) m.get("d"), 0);
    assertEquals(Boolean.TRUE, m.get("t"));
    assertEquals(Boolean.FALSE, m.get("f"));
    assertTrue(m.containsKey("n"));
    assertNull(m.get("n"));
    assertEquals(Arrays.asList(1L, 2.5, "x"), m.get("l"));
    assertEquals(new LinkedHashMap<>(), m.get("o"));
  }

  @Test
  public void writesWhatItReads() {
    String text = "{\"a\":[1,2.5,null,{\"b\":\"q\\\"\\n\"}],\"c\":95.0,\"d\":2.1E-5,\"e\":false}";
    Object v = Json.parse(text);
    assertEquals(text, Json.write(v));
    assertEquals(v, Json.parse(Json.writePretty(v)));
  }

  @Test
  public void floatsStayFloats() {
    // 95.0 must not become 95: pydantic and Swift's Double decode either, but shapes compare equal
    assertEquals("[95.0,0.1,-3]", Json.write(Arrays.asList(95.0, 0.1, -3L)));
  }

  @Test
  public void rejectsMalformedInputWithOffset() {
    for (String bad : new String[] {"{", "{\"a\" 1}", "[1,]", "{\"a\":1}x", "tru", "{\"a\":1,\"a\":2}",
        "\"\\q\"", "01.2.3"}) {
      try {
        Json.parse(bad);
        fail("accepted " + bad);
      } catch (Json.ParseException e) {
        assertTrue(e.getMessage(), e.getMessage().contains("offset"));
      }
    }
  }

  @Test(expected = IllegalArgumentException.class)
  public void refusesNaN() {
    List<Object> l = Arrays.asList((Object) Double.NaN);
    Json.write(l);
  }
}
