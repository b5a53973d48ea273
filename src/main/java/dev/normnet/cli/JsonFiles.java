package dev.normnet.cli;

import dev.normnet.io.AtomicFiles;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.deser.std.NumberDeserializers;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import java.io.CharConversionException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Reads and writes normnet's JSON files with Jackson: {@code train --history} ({@link HistoryFile}),
 * {@code bench --json} and the files {@code plot} reads. One configuration for all of them:
 * <ul>
 *   <li>a non-finite number (NaN, an infinity) is written as {@code null}, and {@code null} read
 *       into a {@code double} is NaN (a history without a test set has {@code "test_acc": null});</li>
 *   <li>unknown keys are ignored when reading typed records, so that files from other writers
 *       (benchmarks/pytorch) and newer versions read;</li>
 *   <li>output is indented by two spaces, {@code "key": value}, with a final newline.</li>
 * </ul>
 * Errors name the file: a file that is not JSON, or whose shape is not what the reader expects, is
 * a {@link UsageException} (exit status 2).
 */
public final class JsonFiles {

    /** The mapper every normnet JSON file goes through. */
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .addModule(new SimpleModule("normnet-non-finite")
                    .addSerializer(Double.class, new NonFiniteAsNull<>(Double.class))
                    .addSerializer(Double.TYPE, new NonFiniteAsNull<>(Double.TYPE))
                    .addSerializer(Float.class, new NonFiniteAsNull<>(Float.class))
                    .addSerializer(Float.TYPE, new NonFiniteAsNull<>(Float.TYPE))
                    .addDeserializer(Double.TYPE, new NumberDeserializers.DoubleDeserializer(Double.TYPE, Double.NaN)))
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final ObjectWriter WRITER = MAPPER.writer(new DefaultPrettyPrinter()
            .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER))
            .withArrayIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"))
            .withObjectIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n")));

    private JsonFiles() {
    }

    /** The JSON text of {@code value} (records, maps, lists, strings, numbers, booleans, null), with a final newline. */
    public static String write(Object value) {
        try {
            return WRITER.writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + value.getClass().getSimpleName() + " as JSON: "
                    + e.getOriginalMessage(), e);
        }
    }

    /** Writes {@code value} to {@code file} whole or not at all (see {@link AtomicFiles}). */
    public static void write(Path file, Object value) throws IOException {
        AtomicFiles.writeString(file, write(value));
    }

    /**
     * Writes {@code value} to the {@code file} option {@code flag} names, whole or not at all; a
     * failure is a {@link UsageException} naming the option, the file and the reason.
     */
    public static void write(String flag, Path file, Object value) {
        String text = write(value);
        Outputs.write(flag, file, p -> Files.writeString(p, text, StandardCharsets.UTF_8));
    }

    /**
     * Reads {@code file} as a JSON object.
     *
     * @throws UsageException naming the file when it is not JSON or not an object at the top level
     * @throws java.nio.file.NoSuchFileException when it does not exist (also an input error)
     */
    public static JsonNode readObject(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        JsonNode node;
        try {
            node = MAPPER.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw invalid(file, e);
        } catch (CharConversionException e) {
            // bytes that are no text in the encoding Jackson detected (UTF-8, -16 or -32)
            throw new UsageException(file + ": invalid JSON: not text in UTF-8, UTF-16 or UTF-32 (" + e.getMessage() + ")", e);
        }
        if (node == null || !node.isObject()) {
            throw new UsageException(file + ": expected a JSON object at the top level");
        }
        return node;
    }

    /** Reads {@code file} as a {@code type}; errors name the file and the key at fault. */
    public static <T> T read(Path file, Class<T> type) throws IOException {
        return convert(readObject(file), type, file);
    }

    /** Converts a document read from {@code file} to {@code type}; errors name the file and the key at fault. */
    public static <T> T convert(JsonNode node, Class<T> type, Path file) {
        try {
            return MAPPER.treeToValue(node, type);
        } catch (JsonProcessingException e) {
            throw invalid(file, e);
        } catch (IllegalArgumentException e) {
            throw new UsageException(file + ": " + e.getMessage(), e);
        }
    }

    /** Converts any value (a record, a map) to a map with the keys and values its JSON file would have. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> toMap(Object value) {
        return MAPPER.convertValue(value, Map.class);
    }

    private static UsageException invalid(Path file, JsonProcessingException e) {
        StringBuilder where = new StringBuilder();
        if (e instanceof JsonMappingException m) {
            for (JsonMappingException.Reference r : m.getPath()) {
                if (r.getFieldName() != null) {
                    where.append(where.length() == 0 ? "" : ".").append(r.getFieldName());
                } else if (r.getIndex() >= 0) {
                    where.append('[').append(r.getIndex()).append(']');
                }
            }
        }
        String message = e.getOriginalMessage();
        int newline = message.indexOf('\n');
        message = newline < 0 ? message : message.substring(0, newline);
        String at = where.length() > 0 ? " at \"" + where + "\""
                : e.getLocation() != null && e.getLocation().getLineNr() > 0
                ? " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() : "";
        String kind = e instanceof JsonMappingException ? "unexpected content" : "invalid JSON";
        return new UsageException(file + ": " + kind + at + ": " + message, e);
    }

    /** Writes a NaN or an infinity as {@code null}: JSON has no such numbers. */
    private static final class NonFiniteAsNull<T extends Number> extends StdSerializer<T> {
        NonFiniteAsNull(Class<T> type) {
            super(type);
        }

        @Override
        public void serialize(T value, JsonGenerator g, SerializerProvider provider) throws IOException {
            double d = value.doubleValue();
            if (!Double.isFinite(d)) {
                g.writeNull();
            } else if (value instanceof Float f) {
                g.writeNumber(f);
            } else {
                g.writeNumber(d);
            }
        }
    }
}
