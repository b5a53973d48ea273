package dev.normnet.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.normnet.HostileInput;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the model file readers ({@link SafeTensors}, {@link ModelFile}) with Jazzer; the committed
 * inputs (small safetensors files of every dtype, a normnet MLP-BN model file, and broken ones) are
 * in {@code src/test/resources/dev/normnet/io/SafeTensorsFuzzTestInputs/safetensors/}.
 *
 * <p>Each input is a file. {@link SafeTensors#open} and reading every tensor either work or throw a
 * {@link ModelFileException} naming the file; so does {@link ModelFile#load}. A file that opens
 * writes back (every readable tensor as F32, its metadata) and reloads equal: the same names,
 * shapes, metadata, and float32 values bit for bit. Allocation is bounded by 16 bytes per byte of
 * the file (a U8 tensor read as floats passes through longs), plus {@link HostileInput#SLACK}.
 */
class SafeTensorsFuzzTest {
    private static final HostileInput SCRATCH = new HostileInput("safetensors");

    static {
        HostileInput.warmUp(new SafeTensorsFuzzTest()::safetensors, SafeTensorsFuzzTest::seeds);
    }

    @FuzzTest(maxDuration = "10s")
    void safetensors(byte[] input) throws Exception {
        Path file = SCRATCH.write("model.safetensors", input);
        long bound = 16L * input.length;
        HostileInput.Outcome<Contents> read = HostileInput.read(file, ModelFileException.class, bound,
                () -> Contents.of(file));
        HostileInput.read(file, ModelFileException.class, bound, () -> {
            try (ModelFile.Loaded loaded = ModelFile.load(file)) {
                return loaded.spec();
            }
        });
        if (!read.ok() || read.value().skipped) {
            return;
        }
        Contents original = read.value();
        SafeTensors.Builder b = new SafeTensors.Builder();
        original.metadata.forEach(b::putMetadata);
        for (int i = 0; i < original.names.size(); i++) {
            b.putF32(original.names.get(i), original.shapes.get(i), original.values.get(i));
        }
        Path again = SCRATCH.write("again.safetensors", b.toBytes());
        Contents back = Contents.of(again);
        HostileInput.check(back.metadata.equals(original.metadata), "metadata changed: " + back.metadata);
        HostileInput.check(back.names.equals(original.names), "names changed: " + back.names);
        for (int i = 0; i < original.names.size(); i++) {
            HostileInput.check(java.util.Arrays.equals(back.shapes.get(i), original.shapes.get(i)),
                    original.names.get(i) + ": shape changed");
            float[] x = original.values.get(i);
            float[] y = back.values.get(i);
            HostileInput.check(x.length == y.length, original.names.get(i) + ": length changed");
            for (int j = 0; j < x.length; j++) {
                HostileInput.check(Float.floatToIntBits(x[j]) == Float.floatToIntBits(y[j]),
                        original.names.get(i) + "[" + j + "]: " + x[j] + " came back as " + y[j]);
            }
        }
    }

    @Test
    void committedSeedsAreTheGeneratedOnes() throws IOException {
        HostileInput.checkSeeds(SafeTensorsFuzzTest.class, "safetensors", seeds());
    }

    /** Seed inputs: small files of every dtype, a model file, and headers that lie. */
    static Map<String, byte[]> seeds() throws IOException {
        Map<String, byte[]> m = new LinkedHashMap<>();
        m.put("f32-i64-metadata", new SafeTensors.Builder().putMetadata("format", "pt")
                .putF32("w", new long[] {2, 3}, new float[] {1, -2, 3.5f, 0, -0f, 1e-40f})
                .putI64("n", new long[] {}, new long[] {7}).toBytes());
        m.put("empty-tensor", new SafeTensors.Builder().putF32("e", new long[] {0, 4}, new float[0]).toBytes());
        for (SafeTensors.DType d : SafeTensors.DType.values()) {
            byte[] data = new byte[3 * d.bytes()];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 37 + 1);
            }
            m.put("dtype-" + d, file("{\"t\":{\"dtype\":\"" + d + "\",\"shape\":[3],\"data_offsets\":[0," + data.length + "]}}", data));
        }
        m.put("u64-beyond-2^63", file("{\"t\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                new byte[] {0, 0, 0, 0, 0, 0, 0, (byte) 0x80}));
        m.put("shape-overflows", file("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                new byte[4]));
        m.put("dims-2^31-1", file("{\"t\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647],\"data_offsets\":[0,4]}}",
                new byte[4]));
        m.put("overlap", file("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", new byte[3]));
        m.put("header-length-huge", new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0, 0, 0, '{', '}'});
        m.put("deep-metadata", file("{\"__metadata__\":" + "[".repeat(50) + "]".repeat(50) + "}", new byte[0]));
        m.put("nan-weight", new SafeTensors.Builder().putF32("w", new long[] {1}, new float[] {Float.NaN}).toBytes());
        m.put("model-mlp-bn", java.nio.file.Files.readAllBytes(Path.of("src/test/resources/safetensors/normnet_mlp-bn.safetensors")));
        ModelSpec big = new ModelSpec("lenet-bn", dev.normnet.nn.ModelOptions.defaults().withResize(ModelSpec.MAX_SIDE),
                List.of("a", "b"));
        m.put("model-lenet-bn-1024-no-tensors", new SafeTensors.Builder().putMetadata(ModelFile.METADATA_KEY, big.toJson())
                .putF32("0.weight", new long[] {1}, new float[] {1}).toBytes());
        return m;
    }

    /** A safetensors file of a header (padded with spaces to 8-byte alignment) and data. */
    private static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + padded + data.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) {
            b.put((byte) ' ');
        }
        return b.put(data).array();
    }

    /** A file's tensors read as float32, in header order; {@code skipped} when one has no float32 value (F8). */
    private record Contents(Map<String, String> metadata, List<String> names, List<long[]> shapes,
                            List<float[]> values, boolean skipped) {
        static Contents of(Path file) throws Exception {
            try (SafeTensors st = SafeTensors.open(file)) {
                List<String> names = new ArrayList<>();
                List<long[]> shapes = new ArrayList<>();
                List<float[]> values = new ArrayList<>();
                boolean skipped = false;
                for (SafeTensors.Entry e : st.entries().values()) {
                    if (e.dtype() == SafeTensors.DType.F8_E4M3 || e.dtype() == SafeTensors.DType.F8_E5M2) {
                        skipped = true;
                        continue;
                    }
                    float[] v = st.floats(e.name());
                    HostileInput.check(v.length == e.elements(), e.name() + ": " + v.length + " values for shape "
                            + e.shapeText());
                    if (e.dtype().isInteger()) {
                        HostileInput.check(st.longs(e.name()).length == v.length, e.name() + ": longs and floats differ in length");
                    }
                    names.add(e.name());
                    shapes.add(e.shape());
                    values.add(v);
                }
                return new Contents(Map.copyOf(st.metadata()), names, shapes, values, skipped);
            }
        }
    }
}
