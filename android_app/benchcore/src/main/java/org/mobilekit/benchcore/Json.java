package org.mobilekit.benchcore;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal JSON reader and writer (RFC 8259), so benchcore compiles with plain javac: org.json
 * ships only with Android and Gson would be a dependency for two small jobs.
 *
 * <p>Objects read as {@link LinkedHashMap} (key order kept, JSON null kept as a null value),
 * arrays as {@link ArrayList}, numbers as {@link Long} when integral and {@link Double}
 * otherwise, plus String, Boolean and null. The writer takes the same types (any Number,
 * Map with String keys, List or array of objects) and rejects NaN and infinities, which JSON
 * cannot carry.
 */
public final class Json {
  private Json() {}

  /** Malformed JSON, with the character offset where reading stopped. */
  public static final class ParseException extends IllegalArgumentException {
    public ParseException(String message, int offset) {
      super(message + " at offset " + offset);
    }
  }

  // ------------------------------------------------------------------------------ reading
  public static Object parse(String text) {
    Reader r = new Reader(text);
    r.skipWhitespace();
    Object value = r.readValue();
    r.skipWhitespace();
    if (r.pos != text.length()) {
      throw new ParseException("unexpected trailing characters", r.pos);
    }
    return value;
  }

  /** Parses a JSON object; anything else is a ParseException. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> parseObject(String text) {
    Object value = parse(text);
    if (!(value instanceof Map)) {
      throw new ParseException("expected a JSON object", 0);
    }
    return (Map<String, Object>) value;
  }

  private static final class Reader {
    final String s;
    int pos;

    Reader(String s) {
      this.s = s;
    }

    void skipWhitespace() {
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
          pos++;
        } else {
          break;
        }
      }
    }

    char peek() {
      if (pos >= s.length()) {
        throw new ParseException("unexpected end of input", pos);
      }
      return s.charAt(pos);
    }

    void expect(char c) {
      if (peek() != c) {
        throw new ParseException("expected '" + c + "' but found '" + peek() + "'", pos);
      }
      pos++;
    }

    Object readValue() {
      char c = peek();
      switch (c) {
        case '{':
          return readObject();
        case '[':
          return readArray();
        case '"':
          return readString();
        case 't':
          readLiteral("true");
          return Boolean.TRUE;
        case 'f':
          readLiteral("false");
          return Boolean.FALSE;
        case 'n':
          readLiteral("null");
          return null;
        default:
          if (c == '-' || (c >= '0' && c <= '9')) {
            return readNumber();
          }
          throw new ParseException("unexpected character '" + c + "'", pos);
      }
    }

    void readLiteral(String word) {
      if (!s.startsWith(word, pos)) {
        throw new ParseException("expected " + word, pos);
      }
      pos += word.length();
    }

    Map<String, Object> readObject() {
      expect('{');
      Map<String, Object> map = new LinkedHashMap<>();
      skipWhitespace();
      if (peek() == '}') {
        pos++;
        return map;
      }
      while (true) {
        skipWhitespace();
        if (peek() != '"') {
          throw new ParseException("expected a string key", pos);
        }
        int keyPos = pos;
        String key = readString();
        if (map.containsKey(key)) {
          throw new ParseException("duplicate key \"" + key + "\"", keyPos);
        }
        skipWhitespace();
        expect(':');
        skipWhitespace();
        map.put(key, readValue());
        skipWhitespace();
        if (peek() == ',') {
          pos++;
          continue;
        }
        expect('}');
        return map;
      }
    }

    List<Object> readArray() {
      expect('[');
      List<Object> list = new ArrayList<>();
      skipWhitespace();
      if (peek() == ']') {
        pos++;
        return list;
      }
      while (true) {
        skipWhitespace();
        list.add(readValue());
        skipWhitespace();
        if (peek() == ',') {
          pos++;
          continue;
        }
        expect(']');
        return list;
      }
    }

    String readString() {
      expect('"');
      StringBuilder sb = new StringBuilder();
      while (true) {
        char c = peek();
        pos++;
        if (c == '"') {
          return sb.toString();
        }
        if (c < 0x20) {
          throw new ParseException("control character in string", pos - 1);
        }
        if (c != '\\') {
          sb.append(c);
          continue;
        }
        char e = peek();
        pos++;
        switch (e) {
          case '"': sb.append('"'); break;
          case '\\': sb.append('\\'); break;
          case '/': sb.append('/'); break;
          case 'b': sb.append('\b'); break;
          case 'f': sb.append('\f'); break;
          case 'n': sb.append('\n'); break;
          case 'r': sb.append('\r'); break;
          case 't': sb.append('\t'); break;
          case 'u':
            if (pos + 4 > s.length()) {
              throw new ParseException("truncated \\u escape", pos);
            }
            try {
              sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
            } catch (NumberFormatException ex) {
              throw new ParseException("bad \\u escape", pos);
            }
            pos += 4;
            break;
          default:
            throw new ParseException("bad escape '\\" + e + "'", pos - 1);
        }
      }
    }

    Object readNumber() {
      int start = pos;
      if (peek() == '-') {
        pos++;
      }
      boolean integral = true;
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c >= '0' && c <= '9') {
          pos++;
        } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
          integral = false;
          pos++;
        } else {
          break;
        }
      }
      String token = s.substring(start, pos);
      try {
        if (integral) {
          try {
            return Long.parseLong(token);
          } catch (NumberFormatException tooBig) {
            return Double.parseDouble(token); // beyond long: keep it as a number
          }
        }
        return Double.parseDouble(token);
      } catch (NumberFormatException ex) {
        throw new ParseException("bad number '" + token + "'", start);
      }
    }
  }

  // ------------------------------------------------------------------------------ writing
  /** Compact JSON. */
  public static String write(Object value) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, -1, 0);
    return sb.toString();
  }

  /** JSON indented by two spaces, for files a person may read. */
  public static String writePretty(Object value) {
    StringBuilder sb = new StringBuilder();
    write(sb, value, 2, 0);
    return sb.append('\n').toString();
  }

  private static void newline(StringBuilder sb, int indent, int depth) {
    if (indent < 0) {
      return;
    }
    sb.append('\n');
    for (int i = 0; i < indent * depth; i++) {
      sb.append(' ');
    }
  }

  @SuppressWarnings("unchecked")
  private static void write(StringBuilder sb, Object v, int indent, int depth) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String) {
      writeString(sb, (String) v);
    } else if (v instanceof Boolean) {
      sb.append(v.toString());
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        throw new IllegalArgumentException("JSON cannot carry " + d);
      }
      if (d == Math.rint(d) && Math.abs(d) < 1e15) {
        sb.append((long) d).append(".0"); // keep it a float on the other side: 95.0, not 95
      } else {
        sb.append(Double.toString(d)); // shortest round-trip form, e.g. 2.1E-5
      }
    } else if (v instanceof Number) {
      sb.append(((Number) v).longValue());
    } else if (v instanceof Map) {
      Map<Object, Object> map = (Map<Object, Object>) v;
      sb.append('{');
      Iterator<Map.Entry<Object, Object>> it = map.entrySet().iterator();
      boolean first = true;
      while (it.hasNext()) {
        Map.Entry<Object, Object> e = it.next();
        if (!(e.getKey() instanceof String)) {
          throw new IllegalArgumentException("JSON object keys must be strings: " + e.getKey());
        }
        if (!first) {
          sb.append(',');
        }
        first = false;
        newline(sb, indent, depth + 1);
        writeString(sb, (String) e.getKey());
        sb.append(indent < 0 ? ":" : ": ");
        write(sb, e.getValue(), indent, depth + 1);
      }
      if (!first) {
        newline(sb, indent, depth);
      }
      sb.append('}');
    } else if (v instanceof List || v instanceof Object[] || v instanceof double[]
        || v instanceof long[] || v instanceof int[]) {
      List<Object> list = asList(v);
      sb.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) {
          sb.append(',');
        }
        newline(sb, indent, depth + 1);
        write(sb, list.get(i), indent, depth + 1);
      }
      if (!list.isEmpty()) {
        newline(sb, indent, depth);
      }
      sb.append(']');
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
    }
  }

  @SuppressWarnings("unchecked")
  private static List<Object> asList(Object v) {
    List<Object> out = new ArrayList<>();
    if (v instanceof List) {
      out.addAll((List<Object>) v);
    } else if (v instanceof Object[]) {
      for (Object o : (Object[]) v) out.add(o);
    } else if (v instanceof double[]) {
      for (double d : (double[]) v) out.add(d);
    } else if (v instanceof long[]) {
      for (long l : (long[]) v) out.add(l);
    } else {
      for (int i : (int[]) v) out.add((long) i);
    }
    return out;
  }

  private static void writeString(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"': sb.append("\\\""); break;
        case '\\': sb.append("\\\\"); break;
        case '\n': sb.append("\\n"); break;
        case '\r': sb.append("\\r"); break;
        case '\t': sb.append("\\t"); break;
        case '\b': sb.append("\\b"); break;
        case '\f': sb.append("\\f"); break;
        default:
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    sb.append('"');
  }
}
