package dev.normnet.parity;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the NumPy {@code .npy} files the golden cases are stored in: format versions 1 to 3,
 * {@code descr '<f4'} (float32 little-endian), {@code fortran_order False}, any shape. Anything
 * else is rejected with a message naming the file and what is wrong.
 */
final class NpyReader {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    /** A float32 array and its shape ({@code shape = {}} for a 0-d array of one value). */
    record Array(String name, int[] shape, float[] data) {
        int dim(int i) {
            return shape[i];
        }
    }

    private NpyReader() {
    }

    static Array read(InputStream in, String name) throws IOException {
        return parse(in.readAllBytes(), name);
    }

    static Array parse(byte[] bytes, String name) {
        if (bytes.length < 10) {
            throw new IllegalArgumentException(name + ": " + bytes.length + " bytes is too short for a .npy file");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (bytes[i] != MAGIC[i]) {
                throw new IllegalArgumentException(name + ": not a .npy file (bad magic string)");
            }
        }
        int major = bytes[6] & 0xff;
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength;
        int headerStart;
        if (major == 1) {
            headerLength = buf.getShort(8) & 0xffff;
            headerStart = 10;
        } else if (major == 2 || major == 3) {
            if (bytes.length < 12) {
                throw new IllegalArgumentException(name + ": truncated .npy header");
            }
            headerLength = buf.getInt(8);
            headerStart = 12;
        } else {
            throw new IllegalArgumentException(name + ": unsupported .npy format version " + major);
        }
        if (headerLength < 0 || headerStart + headerLength > bytes.length) {
            throw new IllegalArgumentException(name + ": header length " + headerLength + " runs past the end of the file");
        }
        String header = new String(bytes, headerStart, headerLength,
                major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);

        String descr = find(DESCR, header, "descr", name);
        if (!descr.equals("<f4")) {
            throw new IllegalArgumentException(name + ": descr is '" + descr + "', expected '<f4' (float32 little-endian)");
        }
        if (!find(FORTRAN, header, "fortran_order", name).equals("False")) {
            throw new IllegalArgumentException(name + ": fortran_order is True, expected C order");
        }
        int[] shape = parseShape(find(SHAPE, header, "shape", name), name);

        long count = 1;
        for (int d : shape) {
            count *= d;
        }
        int dataStart = headerStart + headerLength;
        long expected = count * Float.BYTES;
        if (bytes.length - dataStart != expected) {
            throw new IllegalArgumentException(name + ": shape " + java.util.Arrays.toString(shape) + " needs "
                    + expected + " data bytes, the file has " + (bytes.length - dataStart));
        }
        float[] data = new float[(int) count];
        buf.position(dataStart);
        buf.asFloatBuffer().get(data);
        return new Array(name, shape, data);
    }

    private static String find(Pattern p, String header, String key, String name) {
        Matcher m = p.matcher(header);
        if (!m.find()) {
            throw new IllegalArgumentException(name + ": header has no '" + key + "' entry: " + header.trim());
        }
        return m.group(1);
    }

    private static int[] parseShape(String text, String name) {
        List<Integer> dims = new ArrayList<>();
        for (String part : text.split(",")) {
            String s = part.trim();
            if (s.isEmpty()) {
                continue;
            }
            try {
                int d = Integer.parseInt(s);
                if (d < 0) {
                    throw new NumberFormatException();
                }
                dims.add(d);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + ": bad dimension '" + s + "' in shape (" + text + ")");
            }
        }
        return dims.stream().mapToInt(Integer::intValue).toArray();
    }
}
