package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {

    @Test
    void writesWhatAStrictParserReadsBack() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("text", "quote \" backslash \\ newline \n tab \t bell \u0007 é");
        m.put("whole", 42L);
        m.put("real", 0.125);
        m.put("nan", Double.NaN);
        m.put("yes", true);
        m.put("none", null);
        m.put("empty", new ArrayList<>());
        m.put("nested", List.of(Map.of("a", 1.5), List.of()));
        Object back = JsonReader.parse(Json.write(m));
        Map<String, Object> expected = new LinkedHashMap<>(m);
        expected.put("whole", 42.0);
        expected.put("nan", null);
        expected.put("nested", Arrays.asList(Map.of("a", 1.5), List.of()));
        assertEquals(expected, back);
    }
}
