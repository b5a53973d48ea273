package dev.normnet.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (the model file of PyTorch's {@code safetensors.torch}, Hugging Face and
 * DJL), read and written by hand on Jackson's streaming parser:
 * <pre>
 * u64 little-endian   N, the length of the header
 * N bytes             UTF-8 JSON object: for each tensor
 *                       "name": {"dtype": "F32", "shape": [6, 1, 5, 5], "data_offsets": [begin, end]}
 *                     and optionally "__metadata__": {"key": "value", ...} (strings only);
 *                     padded with spaces so that the data starts 8-byte aligned
 * data                the tensors' bytes, little-endian, row-major; offsets are relative to the
 *                     start of the data
 * </pre>
 *
 * <p>{@link #open(Path)} reads and checks the header against the file before anything else is
 * read or allocated: the header length within the file and at most {@value #MAX_HEADER_BYTES}
 * bytes, a JSON object with no duplicate names, known dtypes, shapes whose exact byte size equals
 * the offsets' span, offsets in order inside the data, no overlaps and no gaps (the whole data
 * region is indexed, as the reference implementation demands). A bad header of a file of any size
 * therefore fails at once, naming the file, without reading the data. Tensor data is read only on
 * request, one tensor at a time, each at most 2^31 - 9 bytes.
 *
 * <p>{@link Builder} writes files in the same layout, tensors in the order they were added.
 */
public final class SafeTensors implements AutoCloseable {
    /** The largest header accepted (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100L << 20;
    /** The most tensors a header may describe. */
    public static final int MAX_TENSORS = 1 << 20;
    /** The most dimensions a tensor may have. */
    public static final int MAX_RANK = 32;
    /** The longest tensor name accepted, in characters. */
    public static final int MAX_NAME = 4096;
    /** The key of the optional string-to-string metadata. */
    public static final String METADATA = "__metadata__";

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(8).maxNumberLength(40).maxStringLength(1 << 24).build())
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    /** The element types of the format; the name is the header's spelling. */
    public enum DType {
        BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2),
        I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);

        private final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }

        /** Bytes per element. */
        public int bytes() {
            return bytes;
        }

        /** True for the types {@link SafeTensors#floats} converts exactly or by rounding to float32. */
        public boolean isFloating() {
            return this == F16 || this == BF16 || this == F32 || this == F64;
        }

        /** True for the integer types (and BOOL). */
        public boolean isInteger() {
            return switch (this) {
                case BOOL, U8, I8, I16, U16, I32, U32, I64, U64 -> true;
                default -> false;
            };
        }

        static DType parse(String name) {
            for (DType d : values()) {
                if (d.name().equals(name)) {
                    return d;
                }
            }
            return null;
        }
    }

    /**
     * One tensor of a header.
     *
     * @param begin byte offset of its first byte, relative to the start of the data
     * @param end   byte offset one past its last byte
     */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** The number of elements (1 for a scalar, shape []). */
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** The shape as "[6, 1, 5, 5]". */
        public String shapeText() {
            return Arrays.toString(shape);
        }
    }

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, FileChannel channel, long dataStart, Map<String, Entry> entries,
                        Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /**
     * Opens {@code file} and checks its header (see the class comment); the data stays unread.
     *
     * @throws ModelFileException naming the file when it is not a valid safetensors file
     * @throws IOException        when it cannot be read
     */
    public static SafeTensors open(Path file) throws IOException {
        if (java.nio.file.Files.isDirectory(file)) {
            throw bad(file, "is a directory, not a model file");
        }
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = ch.size();
            if (size < 8) {
                throw bad(file, "not a safetensors file (" + size + " bytes; the header length alone takes 8)");
            }
            ByteBuffer lenBuf = readFully(ch, 0, 8);
            long headerLen = lenBuf.order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
                throw bad(file, "not a safetensors file (header length " + Long.toUnsignedString(headerLen)
                        + " is outside 2 .. " + MAX_HEADER_BYTES + ")");
            }
            if (headerLen > size - 8) {
                throw bad(file, "truncated: the header claims " + headerLen + " bytes, the file has " + (size - 8)
                        + " after the length");
            }
            byte[] header = new byte[(int) headerLen];
            readFully(ch, 8, (int) headerLen).get(header);
            if (header[0] != '{') {
                throw bad(file, "not a safetensors file (the header does not start with '{')");
            }
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(file, header, metadata);
            checkLayout(file, entries, size - 8 - headerLen);
            return new SafeTensors(file, ch, 8 + headerLen, Collections.unmodifiableMap(entries),
                    Collections.unmodifiableMap(metadata));
        } catch (IOException | RuntimeException | Error e) {
            ch.close();
            throw e;
        }
    }

    public Path file() {
        return file;
    }

    /** The tensors, in the header's order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The tensor called {@code name}, or null. */
    public Entry entry(String name) {
        return entries.get(name);
    }

    /** The {@value #METADATA} map (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * The tensor's values as float32: F32 as stored, F64 rounded to nearest, F16 and BF16 widened
     * exactly, integers converted as {@code (float) value} (exact up to 2^24).
     *
     * @throws ModelFileException when the tensor is missing, its type has no float32 value (F8, U64
     *                            above 2^63) or it has more than 2^31 - 9 elements
     */
    public float[] floats(String name) throws IOException {
        Entry e = require(name);
        if (e.dtype() == DType.F8_E4M3 || e.dtype() == DType.F8_E5M2) {
            throw bad(file, "tensor '" + name + "' is " + e.dtype() + ", which normnet does not read");
        }
        int n = readable(e);
        float[] out = new float[n];
        ByteBuffer buf = data(e);
        switch (e.dtype()) {
            case F32 -> buf.asFloatBuffer().get(out);
            case F64 -> {
                for (int i = 0; i < n; i++) out[i] = (float) buf.getDouble();
            }
            case F16 -> {
                for (int i = 0; i < n; i++) out[i] = halfToFloat(buf.getShort());
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((buf.getShort() & 0xFFFF) << 16);
            }
            default -> {
                long[] l = integers(e, buf, n);
                for (int i = 0; i < n; i++) out[i] = (float) l[i];
            }
        }
        return out;
    }

    /**
     * The tensor's values as longs; integer types only.
     *
     * @throws ModelFileException when the tensor is missing or not of an integer type, or a U64
     *                            value exceeds 2^63 - 1
     */
    public long[] longs(String name) throws IOException {
        Entry e = require(name);
        if (!e.dtype().isInteger()) {
            throw bad(file, "tensor '" + name + "' is " + e.dtype() + ", expected an integer type");
        }
        int n = readable(e);
        return integers(e, data(e), n);
    }

    private long[] integers(Entry e, ByteBuffer buf, int n) {
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = switch (e.dtype()) {
                case BOOL, U8 -> buf.get() & 0xFF;
                case I8 -> buf.get();
                case I16 -> buf.getShort();
                case U16 -> buf.getShort() & 0xFFFF;
                case I32 -> buf.getInt();
                case U32 -> buf.getInt() & 0xFFFFFFFFL;
                case I64 -> buf.getLong();
                case U64 -> {
                    long v = buf.getLong();
                    if (v < 0) {
                        throw bad(file, "tensor '" + e.name() + "' holds U64 value " + Long.toUnsignedString(v)
                                + ", beyond 2^63 - 1");
                    }
                    yield v;
                }
                default -> throw new IllegalStateException(e.dtype() + " is not an integer type");
            };
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private Entry require(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw bad(file, "no tensor '" + name + "' (the file has " + entries.keySet() + ")");
        }
        return e;
    }

    /** The element count, when the tensor's bytes fit one Java array (at most 2^31 - 9 bytes). */
    private int readable(Entry e) {
        long bytes = e.end() - e.begin();
        if (bytes > Integer.MAX_VALUE - 8) {
            throw bad(file, "tensor '" + e.name() + "' has " + e.elements() + " elements (" + bytes
                    + " bytes), more than normnet reads into one array (2^31 - 9 bytes)");
        }
        return (int) e.elements();
    }

    private ByteBuffer data(Entry e) throws IOException {
        return readFully(channel, dataStart + e.begin(), Math.toIntExact(e.end() - e.begin())).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static ByteBuffer readFully(FileChannel ch, long position, int bytes) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(bytes);
        while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
                throw new EOFException("end of file at byte " + (position + buf.position()) + " (the file shrank while it was read)");
            }
        }
        return buf.flip();
    }

    // ------------------------------------------------------------------ header

    private static Map<String, Entry> parseHeader(Path file, byte[] header, Map<String, String> metadata) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(header)) {
            expect(file, p.nextToken(), JsonToken.START_OBJECT, "the header");
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (name.equals(METADATA)) {
                    expect(file, p.nextToken(), JsonToken.START_OBJECT, METADATA);
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String key = p.currentName();
                        if (p.nextToken() != JsonToken.VALUE_STRING) {
                            throw bad(file, METADATA + " value of '" + key + "' is not a string");
                        }
                        metadata.put(key, p.getText());
                    }
                    continue;
                }
                if (name.isEmpty() || name.length() > MAX_NAME) {
                    throw bad(file, "a tensor name of " + name.length() + " characters (1 .. " + MAX_NAME + " allowed)");
                }
                if (entries.size() == MAX_TENSORS) {
                    throw bad(file, "more than " + MAX_TENSORS + " tensors");
                }
                entries.put(name, parseEntry(file, p, name));
            }
            if (t != JsonToken.END_OBJECT) {
                throw bad(file, "corrupt header (unexpected " + t + ")");
            }
            // Only spaces may follow the object (the padding to 8-byte alignment).
            int end = (int) p.currentLocation().getByteOffset();
            for (int i = end; i < header.length; i++) {
                if (header[i] != ' ') {
                    throw bad(file, "corrupt header (byte " + (header[i] & 0xFF) + " after the JSON object at offset " + (8 + i) + ")");
                }
            }
        } catch (StreamConstraintsException e) {
            throw bad(file, "corrupt header (" + firstLine(e.getOriginalMessage()) + ")");
        } catch (JsonParseException e) {
            throw bad(file, "corrupt header (" + firstLine(e.getOriginalMessage()) + ")");
        } catch (IOException e) {
            throw bad(file, "corrupt header (" + firstLine(e.getMessage()) + ")");
        }
        return entries;
    }

    private static Entry parseEntry(Path file, JsonParser p, String name) throws IOException {
        String where = "tensor '" + name + "'";
        expect(file, p.nextToken(), JsonToken.START_OBJECT, where);
        DType dtype = null;
        long[] shape = null;
        long[] offsets = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            switch (key) {
                case "dtype" -> {
                    if (p.nextToken() != JsonToken.VALUE_STRING) {
                        throw bad(file, where + ": dtype is not a string");
                    }
                    dtype = DType.parse(p.getText());
                    if (dtype == null) {
                        throw bad(file, where + ": unknown dtype '" + p.getText() + "' (known: " + Arrays.toString(DType.values()) + ")");
                    }
                }
                case "shape" -> shape = longArray(file, p, where + ": shape", MAX_RANK);
                case "data_offsets" -> offsets = longArray(file, p, where + ": data_offsets", 2);
                default -> throw bad(file, where + ": unknown key '" + key + "'");
            }
        }
        if (dtype == null || shape == null || offsets == null) {
            throw bad(file, where + ": needs dtype, shape and data_offsets");
        }
        if (offsets.length != 2 || offsets[0] > offsets[1]) {
            throw bad(file, where + ": data_offsets " + Arrays.toString(offsets) + " are not [begin, end] with begin <= end");
        }
        long bytes = dtype.bytes();
        try {
            for (long d : shape) {
                bytes = Math.multiplyExact(bytes, d);
            }
        } catch (ArithmeticException e) {
            throw bad(file, where + ": shape " + Arrays.toString(shape) + " overflows 64 bits");
        }
        if (bytes != offsets[1] - offsets[0]) {
            throw bad(file, where + ": shape " + Arrays.toString(shape) + " of " + dtype + " takes " + bytes
                    + " bytes, data_offsets " + Arrays.toString(offsets) + " span " + (offsets[1] - offsets[0]));
        }
        return new Entry(name, dtype, shape, offsets[0], offsets[1]);
    }

    /** A JSON array of non-negative integers, at most {@code max} long. */
    private static long[] longArray(Path file, JsonParser p, String where, int max) throws IOException {
        if (p.nextToken() != JsonToken.START_ARRAY) {
            throw bad(file, where + " is not an array");
        }
        long[] out = new long[max];
        int n = 0;
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw bad(file, where + " holds " + p.getText() + ", not an integer in 0 .. 2^63 - 1");
            }
            long v = p.getLongValue();
            if (v < 0) {
                throw bad(file, where + " holds the negative value " + v);
            }
            if (n == max) {
                throw bad(file, where + " has more than " + max + " values");
            }
            out[n++] = v;
        }
        return Arrays.copyOf(out, n);
    }

    /** Tensors sorted by offset must tile the data region exactly: from 0, no gap, no overlap, to its end. */
    private static void checkLayout(Path file, Map<String, Entry> entries, long dataBytes) {
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long next = 0;
        for (Entry e : sorted) {
            if (e.begin() != next) {
                throw bad(file, "tensor '" + e.name() + "' starts at data offset " + e.begin() + ", expected " + next
                        + (e.begin() < next ? " (it overlaps another)" : " (a gap before it)"));
            }
            next = e.end();
        }
        if (next != dataBytes) {
            throw bad(file, next > dataBytes
                    ? "truncated: the tensors need " + next + " bytes of data, the file holds " + dataBytes
                    : "the file holds " + (dataBytes - next) + " bytes after the last tensor's data");
        }
    }

    private static void expect(Path file, JsonToken got, JsonToken want, String where) {
        if (got != want) {
            throw bad(file, "corrupt header (" + where + " is not a JSON object)");
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable JSON";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private static ModelFileException bad(Path file, String what) {
        return new ModelFileException(file + ": " + what);
    }

    // ------------------------------------------------------------------ writing

    /** Collects tensors and metadata, then writes them as one safetensors file. */
    public static final class Builder {
        private record Pending(String name, DType dtype, long[] shape, byte[] data) {
        }

        private final Map<String, Pending> tensors = new LinkedHashMap<>();
        private final Map<String, String> metadata = new LinkedHashMap<>();

        /** Adds an F32 tensor of {@code shape} (product must equal {@code values.length}). */
        public Builder putF32(String name, long[] shape, float[] values) {
            ByteBuffer buf = ByteBuffer.allocate(Math.multiplyExact(values.length, 4)).order(ByteOrder.LITTLE_ENDIAN);
            buf.asFloatBuffer().put(values);
            return put(name, DType.F32, shape, values.length, buf.array());
        }

        /** Adds an I64 tensor of {@code shape} (product must equal {@code values.length}). */
        public Builder putI64(String name, long[] shape, long[] values) {
            ByteBuffer buf = ByteBuffer.allocate(Math.multiplyExact(values.length, 8)).order(ByteOrder.LITTLE_ENDIAN);
            buf.asLongBuffer().put(values);
            return put(name, DType.I64, shape, values.length, buf.array());
        }

        /** Adds a metadata entry ({@value #METADATA}). */
        public Builder putMetadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        private Builder put(String name, DType dtype, long[] shape, long count, byte[] data) {
            if (name.isEmpty() || name.equals(METADATA) || name.length() > MAX_NAME) {
                throw new IllegalArgumentException("bad tensor name '" + name + "'");
            }
            long n = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException(name + ": negative dimension in " + Arrays.toString(shape));
                }
                n = Math.multiplyExact(n, d);
            }
            if (n != count) {
                throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " holds " + n
                        + " values, given " + count);
            }
            if (tensors.putIfAbsent(name, new Pending(name, dtype, shape.clone(), data)) != null) {
                throw new IllegalArgumentException("tensor '" + name + "' added twice");
            }
            return this;
        }

        /** Writes the file's bytes to {@code out} (which is not closed). */
        public void write(OutputStream out) throws IOException {
            ByteArrayOutputStream json = new ByteArrayOutputStream();
            try (JsonGenerator g = JSON.createGenerator(json)) {
                g.writeStartObject();
                if (!metadata.isEmpty()) {
                    g.writeObjectFieldStart(METADATA);
                    for (Map.Entry<String, String> m : metadata.entrySet()) {
                        g.writeStringField(m.getKey(), m.getValue());
                    }
                    g.writeEndObject();
                }
                long offset = 0;
                for (Pending t : tensors.values()) {
                    g.writeObjectFieldStart(t.name());
                    g.writeStringField("dtype", t.dtype().name());
                    g.writeArrayFieldStart("shape");
                    for (long d : t.shape()) {
                        g.writeNumber(d);
                    }
                    g.writeEndArray();
                    g.writeArrayFieldStart("data_offsets");
                    g.writeNumber(offset);
                    g.writeNumber(offset + t.data().length);
                    g.writeEndArray();
                    g.writeEndObject();
                    offset += t.data().length;
                }
                g.writeEndObject();
            }
            byte[] header = json.toByteArray();
            int padded = (header.length + 7) / 8 * 8;
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(header);
            byte[] spaces = new byte[padded - header.length];
            Arrays.fill(spaces, (byte) ' ');
            out.write(spaces);
            for (Pending t : tensors.values()) {
                out.write(t.data());
            }
        }

        /** Writes the file to {@code file} (created or truncated; not atomic: see {@link ModelFile#save}). */
        public void write(Path file) throws IOException {
            try (OutputStream out = new java.io.BufferedOutputStream(java.nio.file.Files.newOutputStream(file), 1 << 16)) {
                write(out);
            }
        }

        /** The file's bytes. */
        public byte[] toBytes() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try {
                write(out);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            return out.toByteArray();
        }
    }

    /** IEEE 754 binary16 to float32, exactly (subnormals, infinities and NaN included). */
    static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            float v = mant * 0x1p-24f;   // subnormal (or zero): mant x 2^-24, exact in float32
            return sign == 0 ? v : -v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
