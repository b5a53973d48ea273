package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.train.EpochRecord;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JSON files through Jackson: round trips, non-finite numbers, and errors that name the file. */
class JsonFilesTest {
    @TempDir
    Path tmp;

    static HistoryFile history() {
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("model", "lenet-bn");
        settings.put("epochs", 2);
        settings.put("lr", 0.5);
        settings.put("limit", null);
        settings.put("no_graph", false);
        return new HistoryFile("cpu", "cpu: 2 threads (requested)", settings, List.of(
                new EpochRecord(1, 0.5, 0.8, 0.75, 1234.5, 2.0),
                new EpochRecord(2, 0.25, 0.9, Double.NaN, 1300.0, 1.5)));
    }

    @Test
    void historyRoundTripKeepsKeysOrderAndNaNAsNull() throws Exception {
        Path file = tmp.resolve("history.json");
        JsonFiles.write(file, history());
        String text = Files.readString(file);
        assertTrue(text.startsWith("{\n  \"device\": \"cpu\",\n  \"device_description\": "), text);
        assertTrue(text.contains("\"test_acc\": null"), text);
        assertTrue(text.endsWith("}\n"), text);
        JsonNode tree = JsonFiles.readObject(file);
        assertEquals(List.of("device", "device_description", "settings", "history"), names(tree));
        assertEquals(List.of("epoch", "train_loss", "train_acc", "test_acc", "examples_per_sec", "seconds"),
                names(tree.get("history").get(0)));
        assertEquals(List.of("model", "epochs", "lr", "limit", "no_graph"), names(tree.get("settings")));
        HistoryFile back = JsonFiles.read(file, HistoryFile.class);
        assertEquals(history(), back); // records compare NaN equal (Double.compare)
        assertTrue(Double.isNaN(back.history().get(1).testAcc()));
        assertEquals(2, back.settings().get("epochs"));
        assertNull(back.settings().get("limit"));
    }

    private static List<String> names(JsonNode node) {
        List<String> out = new ArrayList<>();
        node.fieldNames().forEachRemaining(out::add);
        return out;
    }

    @Test
    void writesWhatAStrictParserReadsBack() throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("text", "quote \" backslash \\ newline \n tab \t bell \u0007 é");
        m.put("whole", 42L);
        m.put("real", 0.125);
        m.put("nan", Double.NaN);
        m.put("infinite", Float.POSITIVE_INFINITY);
        m.put("yes", true);
        m.put("none", null);
        m.put("empty", new ArrayList<>());
        m.put("nested", List.of(Map.of("a", 1.5), List.of()));
        Map<String, Object> back = JsonFiles.toMap(JsonFiles.MAPPER.readTree(JsonFiles.write(m)));
        Map<String, Object> expected = new LinkedHashMap<>(m);
        expected.put("whole", 42);
        expected.put("nan", null);
        expected.put("infinite", null);
        expected.put("nested", Arrays.asList(Map.of("a", 1.5), List.of()));
        assertEquals(expected, back);
    }

    @Test
    void aHistoryFromThePyTorchScriptReads() throws Exception {
        // benchmarks/pytorch/train.py: no device_description, test_acc may be absent of a value
        Path file = Files.writeString(tmp.resolve("torch.json"), """
                {"device": "pytorch 2.11 cpu: 2 threads", "settings": {"model": "lenet-bn", "lr": 1.0},
                 "history": [{"epoch": 1, "train_loss": 0.6, "train_acc": 0.78, "test_acc": null,
                              "examples_per_sec": 5000, "seconds": 12, "extra": "ignored"}]}
                """);
        HistoryFile h = JsonFiles.read(file, HistoryFile.class);
        assertNull(h.deviceDescription());
        assertEquals(5000.0, h.history().get(0).examplesPerSec());
        assertTrue(Double.isNaN(h.history().get(0).testAcc()));
    }

    @Test
    void malformedJsonNamesTheFileAndThePlace() throws Exception {
        Path file = Files.writeString(tmp.resolve("x.json"), "{\n \"a\": 1,\n \"b\" 2}");
        UsageException e = assertThrows(UsageException.class, () -> JsonFiles.readObject(file));
        assertTrue(e.getMessage().startsWith(file + ": invalid JSON at line 3, column 6: "), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        for (String text : List.of("[1, 2", "{} x", "\"abc", "tru", "[1]", "")) {
            Path f = Files.writeString(tmp.resolve("bad.json"), text);
            UsageException bad = assertThrows(UsageException.class, () -> JsonFiles.readObject(f), text);
            assertTrue(bad.getMessage().startsWith(f + ": "), bad.getMessage());
        }
        assertThrows(NoSuchFileException.class, () -> JsonFiles.readObject(tmp.resolve("missing.json")));
    }

    @Test
    void aWrongShapeNamesTheFileAndTheKey() throws Exception {
        Path file = Files.writeString(tmp.resolve("h.json"),
                "{\"history\": [{\"epoch\": 1, \"train_loss\": \"low\", \"train_acc\": 0.5, \"test_acc\": 0.5, "
                        + "\"examples_per_sec\": 1, \"seconds\": 1}]}");
        UsageException e = assertThrows(UsageException.class, () -> JsonFiles.read(file, HistoryFile.class));
        assertTrue(e.getMessage().startsWith(file + ": unexpected content at \"history[0].train_loss\": "), e.getMessage());
        Path missing = Files.writeString(tmp.resolve("m.json"), "{\"history\": [{\"epoch\": 1}]}");
        UsageException m = assertThrows(UsageException.class, () -> JsonFiles.read(missing, HistoryFile.class));
        assertTrue(m.getMessage().startsWith(missing + ": unexpected content") && m.getMessage().contains("train_loss"),
                m.getMessage());
        Path none = Files.writeString(tmp.resolve("n.json"), "{\"device\": \"cpu\"}");
        UsageException n = assertThrows(UsageException.class, () -> JsonFiles.read(none, HistoryFile.class));
        assertTrue(n.getMessage().contains("history"), n.getMessage());
    }

    @Test
    void mutatedHistoryFilesReadOrFailAsInputErrors() throws Exception {
        // Seeded mutations of a valid file (bytes flipped, deleted, inserted, the file cut short): every
        // one either reads or fails as an input error naming the file, never as anything else.
        byte[] valid = JsonFiles.write(history()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(11);
        Path file = tmp.resolve("mutated.json");
        int read = 0;
        int refused = 0;
        for (int trial = 0; trial < 2000; trial++) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            int cut = rnd.nextInt(10) == 0 ? rnd.nextInt(valid.length) : valid.length;
            for (int i = 0; i < cut; i++) {
                int r = rnd.nextInt(200);
                if (r == 0) {
                    continue;                                   // delete
                } else if (r == 1) {
                    out.write(rnd.nextInt(256));                // insert
                } else if (r == 2) {
                    out.write(valid[i] ^ (1 << rnd.nextInt(8)));  // flip a bit
                    continue;
                }
                out.write(valid[i]);
            }
            Files.write(file, out.toByteArray());
            try {
                JsonFiles.read(file, HistoryFile.class);
                read++;
            } catch (UsageException e) {
                assertTrue(e.getMessage().startsWith(file + ": ") && !e.getMessage().contains("\n"), e.getMessage());
                refused++;
            }
        }
        assertTrue(read > 0 && refused > 0, "read " + read + ", refused " + refused);
    }

    @Test
    void deepNestingIsRefusedAsAnInputError() throws Exception {
        Path file = Files.writeString(tmp.resolve("deep.json"),
                "{\"history\": " + "[".repeat(100_000) + "]".repeat(100_000) + "}");
        UsageException e = assertThrows(UsageException.class, () -> JsonFiles.read(file, HistoryFile.class));
        assertTrue(e.getMessage().contains("nesting depth"), e.getMessage());
    }

    /**
     * Found by JsonFuzzTest (input crash-398c8449...): ten bytes that Jackson takes for UTF-32 and
     * cannot decode threw a CharConversionException, an IOException that is no JsonProcessingException,
     * so the command line said "internal error", exit 1. Now it is an input error naming the file.
     */
    @Test
    void bytesThatAreNoTextAreRefusedNamingTheFile() throws Exception {
        Path file = Files.write(tmp.resolve("utf32.json"), new byte[] {0x0a, 0, 0, 0, 0x20, 0x32, 0x2c, 0x20, 0x33, 0x5d});
        UsageException e = assertThrows(UsageException.class, () -> JsonFiles.readObject(file));
        assertTrue(e.getMessage().startsWith(file + ": invalid JSON: not text in UTF-8, UTF-16 or UTF-32"), e.getMessage());
    }
}
