package dev.normnet.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The safetensors reader and writer: layout, conversions, and every way a header can lie. */
class SafeTensorsTest {
    @TempDir
    Path dir;

    /** A file of the given header text (padded as the format asks) followed by {@code data} bytes. */
    private Path file(String header, int data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = dir.resolve("t.safetensors");
        Files.write(f, b.array());
        return f;
    }

    private void assertBad(String expected, Path f) {
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafeTensors.open(f).close());
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
    }

    private void assertBad(String expected, String header, int data) throws IOException {
        assertBad(expected, file(header, data));
    }

    @Test
    void writesTheLayoutTheFormatDefines() throws IOException {
        byte[] bytes = new SafeTensors.Builder()
                .putMetadata("k", "v")
                .putF32("w", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6})
                .putI64("n", new long[] {}, new long[] {7})
                .toBytes();
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong();
        assertEquals(0, n % 8, "the data starts 8-byte aligned");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals("{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]}}", header.stripTrailing());
        assertEquals(8 + n + 32, bytes.length);
        b.position((int) (8 + n));
        assertEquals(1f, b.getFloat());
        Path f = dir.resolve("w.safetensors");
        Files.write(f, bytes);
        try (SafeTensors st = SafeTensors.open(f)) {
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, st.floats("w"));
            assertArrayEquals(new long[] {7}, st.longs("n"));
            assertArrayEquals(new float[] {7}, st.floats("n"));
            assertArrayEquals(new long[] {2, 3}, st.entry("w").shape());
            assertEquals("v", st.metadata().get("k"));
            assertThrows(ModelFileException.class, () -> st.longs("w"));
            assertThrows(ModelFileException.class, () -> st.floats("nope"));
        }
    }

    @Test
    void convertsF64F16AndBf16ToFloat32() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(8 + 2 * 4 + 2 * 3).order(ByteOrder.LITTLE_ENDIAN);
        d.putDouble(0.1);
        d.putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x0001).putShort((short) 0x7C00); // 1, -2, 2^-24, inf
        d.putShort((short) 0x3F80).putShort((short) 0xC049).putShort((short) 0x0001);                              // bf16 1, -3.140625, tiny
        String h = "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[8,16]},"
                + "\"c\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}";
        byte[] hb = h.getBytes(StandardCharsets.UTF_8);
        ByteBuffer all = ByteBuffer.allocate(8 + hb.length + d.capacity()).order(ByteOrder.LITTLE_ENDIAN);
        all.putLong(hb.length).put(hb).put(d.array());
        Path f = dir.resolve("c.safetensors");
        Files.write(f, all.array());
        try (SafeTensors st = SafeTensors.open(f)) {
            assertArrayEquals(new float[] {0.1f}, st.floats("a"));
            assertArrayEquals(new float[] {1f, -2f, 0x1p-24f, Float.POSITIVE_INFINITY}, st.floats("b"));
            assertArrayEquals(new float[] {1f, -3.140625f, Float.intBitsToFloat(0x10000)}, st.floats("c"));
        }
    }

    @Test
    void halfToFloatIsExactForEveryHalf() {
        for (int h = 0; h < 0x10000; h++) {
            int e = (h >>> 10) & 0x1F;
            int m = h & 0x3FF;
            double want = e == 0x1F ? (m == 0 ? Double.POSITIVE_INFINITY : Double.NaN)
                    : e == 0 ? m * Math.pow(2, -24) : (1 + m / 1024.0) * Math.pow(2, e - 15);
            if ((h & 0x8000) != 0) {
                want = -want;
            }
            float got = SafeTensors.halfToFloat((short) h);
            if (Double.isNaN(want)) {
                assertTrue(Float.isNaN(got), Integer.toHexString(h));
            } else {
                assertEquals(want, got, 0.0, Integer.toHexString(h));
                assertEquals(Double.doubleToRawLongBits(want) < 0, Float.floatToRawIntBits(got) < 0, "sign of " + Integer.toHexString(h));
            }
        }
    }

    @Test
    void headersThatLieAreRefusedNamingTheFileAndTheTensor() throws IOException {
        String ok = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        assertBad("truncated: the tensors need 8 bytes of data, the file holds 4", "{\"a\":" + ok + "}", 4);
        assertBad("the file holds 4 bytes after the last tensor's data", "{\"a\":" + ok + "}", 12);
        assertBad("tensor 'a': unknown dtype 'F31'", "{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        assertBad("tensor 'a': shape [3] of F32 takes 12 bytes, data_offsets [0, 8] span 8",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
        assertBad("shape [4294967296, 4294967296] overflows 64 bits",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8);
        assertBad("data_offsets [8, 0] are not [begin, end]", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8);
        assertBad("shape holds the negative value -2", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
        assertBad("shape holds 2.0, not an integer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8);
        assertBad("data_offsets holds 99999999999999999999", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}", 8);
        assertBad("tensor 'b' starts at data offset 4, expected 8 (it overlaps another)",
                "{\"a\":" + ok + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
        assertBad("tensor 'b' starts at data offset 12, expected 8 (a gap before it)",
                "{\"a\":" + ok + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 16);
        assertBad("Duplicate field 'a'", "{\"a\":" + ok + ",\"a\":" + ok + "}", 8);
        assertBad("tensor 'a': needs dtype, shape and data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8);
        assertBad("tensor 'a': unknown key 'strides'", "{\"a\":{\"dtype\":\"F32\",\"strides\":[1],\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
        assertBad("__metadata__ value of 'k' is not a string", "{\"__metadata__\":{\"k\":1}}", 0);
        assertBad("the header does not start with '{'", "[1,2]", 0);
        assertBad("after the JSON object", "{\"a\":" + ok + "}xx", 8);
        assertBad("corrupt header", "{\"a\":" + ok, 8);
        assertBad("tensor 'a': shape holds [", "{\"a\":{\"shape\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}}", 0);
        assertBad("a tensor name of 0 characters", "{\"\":" + ok + "}", 8);
        assertBad("shape has more than 32 values", "{\"a\":{\"dtype\":\"U8\",\"shape\":[" + "1,".repeat(32) + "1],\"data_offsets\":[0,1]}}", 1);
    }

    @Test
    void headerLengthsOutsideTheFileOrTheCapFailAtOnce() throws IOException {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        assertBad("not a safetensors file (3 bytes", f);
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        Files.write(f, b.putLong(-1L).putLong(0).array());
        assertBad("header length 18446744073709551615 is outside 2 .. 104857600", f);
        b.clear();
        Files.write(f, b.putLong(1000).putLong(0).array());
        assertBad("truncated: the header claims 1000 bytes, the file has 8", f);
    }

    @Test
    void aHugeFileWithABadHeaderFailsWithoutReadingItsData() throws IOException {
        Path f = dir.resolve("huge.safetensors");
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000],\"data_offsets\":[0,4000000000]}}";
        byte[] hb = h.getBytes(StandardCharsets.UTF_8);
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.length).array());
            raf.write(hb);
            raf.setLength(3L << 30);   // sparse: 3 GiB that the reader must not touch
        }
        long t0 = System.nanoTime();
        assertBad("truncated: the tensors need 4000000000 bytes of data", f);
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "the header check read the data");
        // A valid header for a tensor too large for one array: refused when read, not when opened.
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(8 + hb.length + 4_000_000_000L);
        }
        try (SafeTensors st = SafeTensors.open(f)) {
            ModelFileException e = assertThrows(ModelFileException.class, () -> st.floats("a"));
            assertTrue(e.getMessage().contains("1000000000 elements") || e.getMessage().contains("more than"), e.getMessage());
        } catch (ModelFileException e) {
            fail("a valid header was refused: " + e.getMessage());
        }
    }

    @Test
    void seededMutationsOfAModelFileEitherReadOrFailAsAModelFileError() throws IOException {
        byte[] good = ModelFile.contents(ModelFileTest.moved("mlp-bn", 3), ModelFileTest.spec("mlp-bn")).toBytes();
        SplittableRandom rng = new SplittableRandom(42);
        Path f = dir.resolve("m.safetensors");
        int refused = 0;
        for (int i = 0; i < 2000; i++) {
            byte[] b = good.clone();
            int headerEnd = 8 + (int) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
            switch (i % 4) {
                case 0 -> b[rng.nextInt(headerEnd)] = (byte) rng.nextInt(256);                 // anywhere in the header
                case 1 -> b[rng.nextInt(8)] = (byte) rng.nextInt(256);                         // the length
                case 2 -> b = java.util.Arrays.copyOf(b, rng.nextInt(b.length));                // truncated
                default -> b[8 + rng.nextInt(headerEnd - 8)] = (byte) ("0123456789[]{},:\"".charAt(rng.nextInt(17)));
            }
            Files.write(f, b);
            try (dev.normnet.nn.Sequential m = ModelFileTest.moved("mlp-bn", 4)) {
                ModelFile.loadInto(m, f);
            } catch (ModelFileException e) {
                refused++;
                assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
            }
        }
        assertTrue(refused > 1500, "only " + refused + " of 2000 mutations were refused");
    }
}
