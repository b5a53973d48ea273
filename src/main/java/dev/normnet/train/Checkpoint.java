package dev.normnet.train;

import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Shape;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Saves and loads a model's state ({@link Sequential#state()}: parameters and running
 * statistics, with PyTorch's names) in a small binary format, little-endian throughout:
 * <pre>
 * magic     8 bytes   "NNETCKPT"
 * version   int32     1
 * count     int32     number of tensors
 * count times:
 *   nameLen int32     bytes of the UTF-8 name that follows (1 .. 4096)
 *   name    nameLen   e.g. "1.running_var"
 *   rank    int32     0 .. 8 (num_batches_tracked has rank 0: one value)
 *   dims    rank x int32
 *   data    float32 x product(dims)
 * </pre>
 * Loading reads and checks the whole file against the model (names, shapes) before changing
 * anything: a wrong magic, a truncated file, an unknown, missing or mis-shaped tensor throws
 * {@link CheckpointException} naming the file and the tensor, and leaves the model as it was.
 */
public final class Checkpoint {
    static final byte[] MAGIC = "NNETCKPT".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    private static final int MAX_NAME = 4096;
    private static final int MAX_RANK = 8;

    private Checkpoint() {
    }

    /** Writes the model's state to {@code file} (through a temporary file, then an atomic rename). */
    public static void save(Sequential model, Path file) throws IOException {
        Map<String, Shape> shapes = model.stateShapes();
        Map<String, float[]> state = model.state();
        long bytes = MAGIC.length + 8;
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            bytes += 8 + e.getKey().getBytes(StandardCharsets.UTF_8).length + 4L * e.getValue().rank() + 4 * e.getValue().size();
        }
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(MAGIC).putInt(VERSION).putInt(shapes.size());
        for (Map.Entry<String, Shape> e : shapes.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            buf.putInt(name.length).put(name).putInt(e.getValue().rank());
            for (int d : e.getValue().dims()) {
                buf.putInt(d);
            }
            for (float v : state.get(e.getKey())) {
                buf.putFloat(v);
            }
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, buf.array());
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Reads the named tensors of a checkpoint file, checking its structure (not against a model). */
    public static Map<String, Tensor> read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < MAGIC.length || !Arrays.equals(Arrays.copyOf(bytes, MAGIC.length), MAGIC)) {
            throw new CheckpointException(file + ": not a normnet checkpoint (the file does not start with \"NNETCKPT\")");
        }
        buf.position(MAGIC.length);
        need(file, buf, 8, "the header");
        int version = buf.getInt();
        if (version != VERSION) {
            throw new CheckpointException(file + ": checkpoint version " + version + " is not supported (expected " + VERSION + ")");
        }
        int count = buf.getInt();
        if (count < 0) {
            throw new CheckpointException(file + ": corrupt header (tensor count " + count + ")");
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int t = 0; t < count; t++) {
            String where = "tensor #" + (t + 1) + " of " + count;
            need(file, buf, 4, where);
            int nameLen = buf.getInt();
            if (nameLen < 1 || nameLen > MAX_NAME) {
                throw new CheckpointException(file + ": corrupt name length " + nameLen + " in " + where);
            }
            need(file, buf, nameLen, where);
            byte[] nameBytes = new byte[nameLen];
            buf.get(nameBytes);
            String name = new String(nameBytes, StandardCharsets.UTF_8);
            where = "tensor '" + name + "'";
            need(file, buf, 4, where);
            int rank = buf.getInt();
            if (rank < 0 || rank > MAX_RANK) {
                throw new CheckpointException(file + ": corrupt rank " + rank + " in " + where);
            }
            need(file, buf, 4L * rank, where);
            int[] dims = new int[rank];
            for (int i = 0; i < rank; i++) {
                dims[i] = buf.getInt();
                if (dims[i] < 0) {
                    throw new CheckpointException(file + ": negative dimension in " + where);
                }
            }
            Shape shape = Shape.of(dims);
            need(file, buf, 4 * shape.size(), where);
            float[] values = new float[shape.sizeInt()];
            buf.asFloatBuffer().get(values);
            buf.position(buf.position() + 4 * values.length);
            if (out.put(name, new Tensor(shape, values)) != null) {
                throw new CheckpointException(file + ": " + where + " appears twice");
            }
        }
        if (buf.hasRemaining()) {
            throw new CheckpointException(file + ": " + buf.remaining() + " unexpected bytes after the last tensor");
        }
        return out;
    }

    /**
     * Loads {@code file} into {@code model} (built, on a backend or not). Nothing is changed unless
     * every tensor of the model is present with its exact shape and the file has no others.
     */
    public static void load(Sequential model, Path file) throws IOException {
        if (!model.isBuilt()) {
            throw new IllegalStateException("build the model before loading " + file);
        }
        Map<String, Tensor> tensors = read(file);
        Map<String, Shape> expected = model.stateShapes();
        Map<String, float[]> state = new LinkedHashMap<>();
        for (Map.Entry<String, Shape> e : expected.entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null) {
                throw new CheckpointException(file + ": tensor '" + e.getKey() + "' " + e.getValue() + " is missing");
            }
            if (!t.shape().equals(e.getValue())) {
                throw new CheckpointException(file + ": tensor '" + e.getKey() + "' has shape " + t.shape()
                        + ", the model expects " + e.getValue());
            }
            state.put(e.getKey(), t.values());
        }
        for (String name : tensors.keySet()) {
            if (!expected.containsKey(name)) {
                throw new CheckpointException(file + ": tensor '" + name + "' is not in the model (expected " + expected.keySet() + ")");
            }
        }
        model.loadState(state);
    }

    private static void need(Path file, ByteBuffer buf, long bytes, String where) {
        if (buf.remaining() < bytes) {
            throw new CheckpointException(file + ": truncated in " + where + " (needs " + bytes + " bytes at offset "
                    + buf.position() + ", the file has " + buf.limit() + ")");
        }
    }

    /** A named tensor as read from a file: its shape and values. */
    public record Tensor(Shape shape, float[] values) {
    }
}
