package dev.normnet.parity;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NpyReaderTest {

    /** A .npy file as NumPy writes it: magic, version, header padded with spaces to 64 bytes, data. */
    private static byte[] npy(int major, String header, float... values) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        int prefix = major == 1 ? 10 : 12;
        StringBuilder h = new StringBuilder(header);
        while ((prefix + h.length() + 1) % 64 != 0) {
            h.append(' ');
        }
        h.append('\n');
        ByteBuffer len = ByteBuffer.allocate(major == 1 ? 2 : 4).order(ByteOrder.LITTLE_ENDIAN);
        if (major == 1) {
            len.putShort((short) h.length());
        } else {
            len.putInt(h.length());
        }
        out.writeBytes(len.array());
        out.writeBytes(h.toString().getBytes(StandardCharsets.ISO_8859_1));
        ByteBuffer data = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            data.putFloat(v);
        }
        out.writeBytes(data.array());
        return out.toByteArray();
    }

    @Test
    void readsShapeAndValues() {
        NpyReader.Array a = NpyReader.parse(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                1, 2, 3, 4, 5, -6.5f), "a.npy");
        assertArrayEquals(new int[] {2, 3}, a.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, -6.5f}, a.data());
    }

    @Test
    void readsOneDimensionalVersionTwoAndScalarShapes() {
        NpyReader.Array v = NpyReader.parse(npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                1, 2, 3), "v.npy");
        assertArrayEquals(new int[] {3}, v.shape());
        NpyReader.Array s = NpyReader.parse(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                42), "s.npy");
        assertArrayEquals(new int[0], s.shape());
        assertArrayEquals(new float[] {42}, s.data());
    }

    @Test
    void rejectsWhatItCannotRead() {
        String f8 = assertThrows(IllegalArgumentException.class, () -> NpyReader.parse(
                npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 0, 0), "d.npy")).getMessage();
        assertTrue(f8.contains("d.npy") && f8.contains("'<f8'"), f8);
        String fortran = assertThrows(IllegalArgumentException.class, () -> NpyReader.parse(
                npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 0), "f.npy")).getMessage();
        assertTrue(fortran.contains("f.npy") && fortran.contains("fortran_order"), fortran);
        String shortData = assertThrows(IllegalArgumentException.class, () -> NpyReader.parse(
                npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 1, 2, 3), "s.npy")).getMessage();
        assertTrue(shortData.contains("s.npy") && shortData.contains("16 data bytes"), shortData);
        byte[] bad = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 1);
        bad[1] = 'X';
        String magic = assertThrows(IllegalArgumentException.class, () -> NpyReader.parse(bad, "m.npy")).getMessage();
        assertTrue(magic.contains("m.npy") && magic.contains("magic"), magic);
    }

    @Test
    void readsAGoldenFile() {
        Golden g = new Golden("lenet_bn", "file");
        NpyReader.Array w = g.load("init.0.weight");
        assertArrayEquals(new int[] {6, 1, 5, 5}, w.shape());
        NpyReader.Array tracked = g.load("final.1.num_batches_tracked");
        assertEquals(3f, tracked.data()[0]);
        String missing = assertThrows(IllegalArgumentException.class, () -> g.load("no_such_file")).getMessage();
        assertTrue(missing.contains("/golden/lenet_bn/no_such_file.npy"), missing);
    }
}
