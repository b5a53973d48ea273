package dev.normnet.train;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The {@link EpochRecord}s of a training run, in order. */
public final class History {
    private final List<EpochRecord> records = new ArrayList<>();

    public void add(EpochRecord record) {
        records.add(record);
    }

    public List<EpochRecord> records() {
        return Collections.unmodifiableList(records);
    }

    /** The last record; throws when empty. */
    public EpochRecord last() {
        if (records.isEmpty()) {
            throw new IllegalStateException("no epochs recorded");
        }
        return records.get(records.size() - 1);
    }

    /**
     * A JSON array with one object per epoch on one line each, keys {@code epoch, train_loss, train_acc,
     * test_acc, examples_per_sec, seconds}; a NaN value (no test set) is written as {@code null}. For
     * messages and logs; the history file is {@code dev.normnet.cli.HistoryFile}.
     */
    public String toJson() {
        ArrayNode array = JsonNodeFactory.instance.arrayNode();
        for (EpochRecord r : records) {
            ObjectNode o = array.addObject();
            o.put("epoch", r.epoch());
            number(o, "train_loss", r.trainLoss());
            number(o, "train_acc", r.trainAcc());
            number(o, "test_acc", r.testAcc());
            number(o, "examples_per_sec", r.examplesPerSec());
            number(o, "seconds", r.seconds());
        }
        try {
            return LINES.writeValueAsString(array);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void number(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) {
            o.put(key, v);
        } else {
            o.putNull(key);
        }
    }

    /** One array element per line, each object on its line: {@code [\n  {"a": 1, "b": 2},\n  ...\n]}. */
    private static final ObjectWriter LINES = new ObjectMapper().writer(new MinimalPrettyPrinter() {
        @Override
        public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(": ");
        }

        @Override
        public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }

        @Override
        public void beforeArrayValues(JsonGenerator g) throws IOException {
            g.writeRaw("\n  ");
        }

        @Override
        public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(",\n  ");
        }

        @Override
        public void writeEndArray(JsonGenerator g, int values) throws IOException {
            g.writeRaw(values > 0 ? "\n]" : "]");
        }
    });
}
