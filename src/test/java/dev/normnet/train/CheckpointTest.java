package dev.normnet.train;

import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointTest {
    @TempDir
    Path dir;

    /** A LeNet-BN whose running statistics and counters are not the initial ones. */
    private static Sequential trainedLike(long seed) {
        Sequential m = Models.create("lenet-bn", ModelOptions.defaults()).build(seed);
        Map<String, float[]> s = m.state();
        s.get("1.running_mean")[2] = 0.25f;
        s.get("13.running_var")[5] = 3.5f;
        s.get("5.num_batches_tracked")[0] = 1234;
        m.loadState(s);
        return m;
    }

    private static void assertSameState(Map<String, float[]> a, Map<String, float[]> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k);
        }
    }

    @Test
    void roundTripRestoresEveryTensorOnTheHostAndOnADevice() throws IOException {
        Sequential a = trainedLike(1);
        Path f = dir.resolve("model.ckpt");
        Checkpoint.save(a, f);
        Sequential b = Models.create("lenet-bn", ModelOptions.defaults()).build(2);
        Checkpoint.load(b, f);
        assertSameState(a.state(), b.state());
        try (CpuBackend backend = new CpuBackend(1)) {
            Sequential c = Models.create("lenet-bn", ModelOptions.defaults()).build(3).to(backend);
            Checkpoint.load(c, f);
            assertSameState(a.state(), c.state());
            Checkpoint.save(c, dir.resolve("again.ckpt"));
            assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(dir.resolve("again.ckpt")));
        }
        Map<String, Checkpoint.Tensor> read = Checkpoint.read(f);
        assertEquals(Shape.of(6, 1, 5, 5), read.get("0.weight").shape());
        assertEquals(Shape.of(), read.get("5.num_batches_tracked").shape());
        assertArrayEquals(new float[] {1234}, read.get("5.num_batches_tracked").values());
    }

    @Test
    void fileLayoutIsTheDocumentedOne() throws IOException {
        Path f = dir.resolve("m.ckpt");
        Checkpoint.save(Models.create("mlp", ModelOptions.defaults()).build(1), f);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[8];
        b.get(magic);
        assertEquals("NNETCKPT", new String(magic, java.nio.charset.StandardCharsets.US_ASCII));
        assertEquals(1, b.getInt());
        assertEquals(6, b.getInt());                 // 1.weight, 1.bias, 3.weight, 3.bias, 5.weight, 5.bias
        int len = b.getInt();
        byte[] name = new byte[len];
        b.get(name);
        assertEquals("1.weight", new String(name, java.nio.charset.StandardCharsets.UTF_8));
        assertEquals(2, b.getInt());
        assertEquals(32, b.getInt());
        assertEquals(784, b.getInt());
    }

    @Test
    void badFilesFailClearlyAndLeaveTheModelAlone() throws IOException {
        Sequential source = trainedLike(1);
        Path good = dir.resolve("good.ckpt");
        Checkpoint.save(source, good);
        byte[] bytes = Files.readAllBytes(good);

        Sequential target = Models.create("lenet-bn", ModelOptions.defaults()).build(9);
        Map<String, float[]> before = target.state();

        Path wrongMagic = dir.resolve("magic.ckpt");
        byte[] m = bytes.clone();
        m[0] = 'X';
        Files.write(wrongMagic, m);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(target, wrongMagic));
        assertTrue(e.getMessage().contains(wrongMagic.toString()) && e.getMessage().contains("not a normnet checkpoint"), e.getMessage());

        // Cut in the middle of the data of a late tensor: the earlier tensors must not be applied.
        Path truncated = dir.resolve("truncated.ckpt");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 100));
        e = assertThrows(CheckpointException.class, () -> Checkpoint.load(target, truncated));
        assertTrue(e.getMessage().contains(truncated.toString()) && e.getMessage().contains("truncated")
                && e.getMessage().contains("'15.weight'"), e.getMessage());

        Path empty = dir.resolve("empty.ckpt");
        Files.write(empty, new byte[0]);
        assertThrows(CheckpointException.class, () -> Checkpoint.load(target, empty));

        // A model built for 32 x 32 input: the first Linear is (120, 400), not (120, 256).
        Path other = dir.resolve("other.ckpt");
        Checkpoint.save(Models.create("lenet-bn", ModelOptions.defaults().withResize(32)).build(1), other);
        e = assertThrows(CheckpointException.class, () -> Checkpoint.load(target, other));
        assertTrue(e.getMessage().contains(other.toString()) && e.getMessage().contains("'9.weight'")
                && e.getMessage().contains("[120, 400]") && e.getMessage().contains("[120, 256]"), e.getMessage());

        // Another architecture: names are missing.
        Path mlp = dir.resolve("mlp.ckpt");
        Checkpoint.save(Models.create("mlp-bn", ModelOptions.defaults()).build(1), mlp);
        e = assertThrows(CheckpointException.class, () -> Checkpoint.load(target, mlp));
        assertTrue(e.getMessage().contains(mlp.toString()), e.getMessage());

        assertThrows(java.nio.file.NoSuchFileException.class, () -> Checkpoint.load(target, dir.resolve("absent.ckpt")));

        assertSameState(before, target.state());
    }

    @Test
    void saveCreatesNoDirectory() {
        Path f = dir.resolve("missing").resolve("m.ckpt");
        assertThrows(IOException.class, () -> Checkpoint.save(Models.create("mlp", ModelOptions.defaults()).build(1), f));
        assertFalse(Files.exists(f.getParent()));
    }
}
