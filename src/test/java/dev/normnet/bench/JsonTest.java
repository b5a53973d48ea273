package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void writesAndReadsBackNestedValues() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", "lenet-bn \"28\"\n\ttab\\");
        m.put("count", 3);
        m.put("rate", 1234.5678);
        m.put("whole", 2.0);
        m.put("flag", true);
        m.put("none", null);
        m.put("list", Arrays.asList(1.5, "x", null, false));
        m.put("nested", List.of(Map.of("a", -1e-9), Map.of()));
        Object back = Json.parse(Json.toJson(m), "test");
        @SuppressWarnings("unchecked")
        Map<String, Object> b = (Map<String, Object>) back;
        assertEquals(List.copyOf(m.keySet()), List.copyOf(b.keySet()), "key order is kept");
        assertEquals("lenet-bn \"28\"\n\ttab\\", b.get("name"));
        assertEquals(3.0, b.get("count"));
        assertEquals(1234.5678, b.get("rate"));
        assertEquals(2.0, b.get("whole"));
        assertEquals(true, b.get("flag"));
        assertNull(b.get("none"));
        assertEquals(Arrays.asList(1.5, "x", null, false), b.get("list"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> nested = (List<Map<String, Object>>) b.get("nested");
        assertEquals(-1e-9, nested.get(0).get("a"));
        assertTrue(nested.get(1).isEmpty());
    }

    @Test
    void readsPythonStyleJsonWithUnicodeEscapes() {
        Object v = Json.parse("{\"a\": [1, 2.5e3, -0.25], \"s\": \"\\u00e9\\/\"}", "py");
        assertEquals(Map.of("a", List.of(1.0, 2500.0, -0.25), "s", "\u00e9/"), v);
    }

    @Test
    void nonFiniteNumbersAreWrittenAsNull() {
        assertEquals("[null, null]", Json.toJson(List.of(Double.NaN, Double.POSITIVE_INFINITY)));
    }

    @Test
    void errorsNameTheSourceAndPosition() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Json.parse("{\n \"a\": 1,\n \"b\" 2}", "results/x.json"));
        assertTrue(e.getMessage().startsWith("results/x.json: invalid JSON at line 3, column 6"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[1, 2", "f"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{} x", "f"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("\"abc", "f"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("tru", "f"));
    }

    @Test
    void typedAccessNamesTheMissingKey() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("x", "text");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.number(m, "x", "f.json"));
        assertEquals("f.json: \"x\" is missing or not a number", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Json.list(m, "cases", "f.json"));
        assertEquals("fallback", Json.string(m, "y", "fallback"));
    }
}
