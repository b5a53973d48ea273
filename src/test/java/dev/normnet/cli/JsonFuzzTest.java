package dev.normnet.cli;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.HostileInput;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the JSON readers ({@link JsonFiles}, {@link HistoryFile}, {@code plot}'s bench files) and
 * the {@code plot} command on what they read, with Jazzer; the committed inputs (histories, bench
 * results, deep nesting, huge numbers, wrong shapes) are in
 * {@code src/test/resources/dev/normnet/cli/JsonFuzzTestInputs/json/}.
 *
 * <p>Each input is a file. Reading it as a JSON object, converting it to a history or a bench file,
 * and {@code plot} reading and checking it for a chart either work or throw a {@link UsageException}
 * naming the file ({@link #plot} also draws it). A history that reads is written back, and what is written reads back to the same
 * text. Reading may allocate at most 64 bytes per byte of the file (a tree of small nodes), plus
 * {@link HostileInput#SLACK}; a drawing takes a picture of a size fixed by plot's options, whatever the data.
 */
class JsonFuzzTest {
    private static final HostileInput SCRATCH = new HostileInput("json");

    static {
        HostileInput.warmUp(new JsonFuzzTest()::json, JsonFuzzTest::seeds);
        HostileInput.warmUp(new JsonFuzzTest()::plot, () -> Map.of("history", seeds().get("history.json"),
                "bench", seeds().get("bench.json")));
    }

    @FuzzTest(maxDuration = "10s")
    void json(byte[] input) throws Exception {
        Path file = SCRATCH.write("run.json", input);
        long bound = 64L * input.length;
        HostileInput.Outcome<JsonNode> doc = HostileInput.read(file, UsageException.class, bound,
                () -> JsonFiles.readObject(file));
        if (!doc.ok()) {
            return;
        }
        HostileInput.Outcome<HistoryFile> history = HostileInput.read(file, UsageException.class, bound,
                () -> JsonFiles.convert(doc.value(), HistoryFile.class, file));
        HostileInput.read(file, UsageException.class, bound,
                () -> JsonFiles.convert(doc.value(), PlotCommand.BenchFile.class, file));
        if (history.ok()) {
            String text = JsonFiles.write(history.value());
            Path again = SCRATCH.write("again.json", text.getBytes(StandardCharsets.UTF_8));
            String twice = JsonFiles.write(JsonFiles.read(again, HistoryFile.class));
            HostileInput.check(twice.equals(text), "a history written back reads back different:\n" + text + "\n" + twice);
        }
        HostileInput.read(file, UsageException.class, bound, () -> plot(file).read());
    }

    /**
     * {@code plot} drawing each input (at 160 x 120 pixels): it draws, or a {@link UsageException}
     * names the file. Drawing takes a good fraction of a second, so this runs over the committed
     * inputs in every build and only briefly when fuzzing; {@link #json} fuzzes everything plot
     * checks before it draws.
     */
    @FuzzTest(maxDuration = "10s")
    void plot(byte[] input) throws Exception {
        Path file = SCRATCH.write("plot.json", input);
        HostileInput.read(file, UsageException.class, 64L * input.length + (64L << 20), plot(file)::call);
    }

    private static PlotCommand plot(Path file) {
        PlotCommand plot = new PlotCommand(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        plot.files = List.of(file);
        plot.outFile = SCRATCH.dir().resolve("plot.png");
        plot.width = 160;
        plot.height = 120;
        return plot;
    }

    @Test
    void committedSeedsAreTheGeneratedOnes() throws IOException {
        HostileInput.checkSeeds(JsonFuzzTest.class, "json", seeds());
        HostileInput.checkSeeds(JsonFuzzTest.class, "plot", seeds());
    }

    /** Seed inputs: histories and bench files as normnet writes them, and hostile variations. */
    static Map<String, byte[]> seeds() {
        Map<String, String> m = new LinkedHashMap<>();
        String epoch1 = "{\"epoch\": 1, \"train_loss\": 0.61, \"train_acc\": 0.78, \"test_acc\": 0.8, \"examples_per_sec\": 5012.3, \"seconds\": 12.4}";
        String epoch2 = "{\"epoch\": 2, \"train_loss\": 0.41, \"train_acc\": 0.85, \"test_acc\": null, \"examples_per_sec\": 5100, \"seconds\": 12.1}";
        m.put("history.json", "{\"device\": \"cpu\", \"device_description\": \"cpu: 2 threads\", \"settings\": {\"model\": \"lenet-bn\", "
                + "\"epochs\": 2, \"lr\": 0.9, \"nested\": {\"a\": [1, 2]}}, \"history\": [" + epoch1 + ", " + epoch2 + "]}\n");
        m.put("history-stopped.json", "{\"device\": \"cuda\", \"history\": [" + epoch1 + "], "
                + "\"stopped\": {\"epoch\": 2, \"step\": 117, \"reason\": \"training diverged\"}}");
        m.put("history-empty.json", "{\"history\": []}");
        m.put("history-huge-numbers.json", "{\"history\": [" + epoch1.replace("0.61", "1e999").replace("12.4", "-1e308") + "]}");
        m.put("history-huge-epoch.json", "{\"history\": [" + epoch1.replace("\"epoch\": 1", "\"epoch\": 2147483647") + ", "
                + epoch2.replace("\"epoch\": 2", "\"epoch\": -2147483648") + "]}");
        m.put("history-epoch-too-big.json", "{\"history\": [" + epoch1.replace("\"epoch\": 1", "\"epoch\": 1e300") + "]}");
        m.put("history-missing-key.json", "{\"history\": [{\"epoch\": 1}]}");
        m.put("history-wrong-type.json", "{\"history\": {\"epoch\": 1}}");
        m.put("bench.json", "{\"implementation\": \"normnet\", \"machine\": {\"cpu_model\": \"x\"}, \"gpu\": null, \"cases\": ["
                + "{\"model\": \"lenet-bn\", \"input\": 28, \"mode\": \"train\", \"batch\": 256, \"device\": \"cpu\", \"graph\": false, "
                + "\"examples_per_sec\": {\"median\": 5000.5, \"min\": 4000}}]}");
        m.put("bench-huge-median.json", "{\"cases\": [{\"model\": \"m\", \"input\": 28, \"mode\": \"t\", \"batch\": 1, "
                + "\"device\": \"cpu\", \"examples_per_sec\": {\"median\": 1e308}}, {\"model\": \"n\", \"input\": 28, \"mode\": \"t\", "
                + "\"batch\": 1, \"device\": \"cpu\", \"examples_per_sec\": {\"median\": 4.9e-324}}]}");
        m.put("bench-no-cases.json", "{\"cases\": []}");
        m.put("deep-nesting.json", "{\"history\": " + "[".repeat(5000) + "]".repeat(5000) + "}");
        m.put("deep-settings.json", "{\"settings\": " + "{\"a\":".repeat(900) + "1" + "}".repeat(900) + ", \"history\": [" + epoch1 + "]}");
        m.put("long-number.json", "{\"history\": [" + epoch1.replace("0.61", "0." + "1".repeat(2000)) + "]}");
        m.put("trailing-tokens.json", "{\"history\": []} {}");
        m.put("not-an-object.json", "[1, 2, 3]");
        m.put("empty.json", "");
        Map<String, byte[]> bytes = new LinkedHashMap<>();
        m.forEach((k, v) -> bytes.put(k, v.getBytes(StandardCharsets.UTF_8)));
        return bytes;
    }
}
