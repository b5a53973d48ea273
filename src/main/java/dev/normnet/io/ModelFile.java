package dev.normnet.io;

import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Shape;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * normnet's model file: a safetensors file ({@link SafeTensors}) holding the model's state under
 * PyTorch's {@code state_dict} names and dtypes ({@code 0.weight} F32 [6, 1, 5, 5],
 * {@code 1.running_mean} F32 [6], {@code 1.num_batches_tracked} I64 []), and, in the metadata, the
 * {@link ModelSpec} under {@value #METADATA_KEY} (with {@code "format": "pt"}, as
 * {@code safetensors.torch} writes), so that the file alone rebuilds its model.
 *
 * <p>PyTorch reads it with {@code model.load_state_dict(safetensors.torch.load_file(path))}; a file
 * PyTorch wrote from the same {@code nn.Sequential} (which has no normnet metadata) loads with the
 * model named ({@link #load(Path, ModelSpec)}).
 *
 * <p>Loading checks everything before the model is changed: the header (see {@link SafeTensors}),
 * every tensor of the model present with its exact shape and no other, floating types for
 * parameters and statistics (F16, BF16 and F64 are converted to float32) and an integer type for
 * {@code num_batches_tracked}, every value finite, every running variance and count non-negative.
 * The names and shapes are checked against the model's before its memory is allocated, so a small
 * file that names a large model is refused without building it.
 * A failure throws {@link ModelFileException} naming the file and the tensor.
 */
public final class ModelFile {
    /** The metadata key of the {@link ModelSpec} JSON. */
    public static final String METADATA_KEY = "normnet";
    private static final String COUNT = "num_batches_tracked";

    private ModelFile() {
    }

    /** A model read from a file, built on the host, and what it is. */
    public record Loaded(ModelSpec spec, Sequential model) implements AutoCloseable {
        @Override
        public void close() {
            model.close();
        }
    }

    /** The file's contents for {@code model} (built) and {@code spec} (null: no normnet metadata). */
    public static SafeTensors.Builder contents(Sequential model, ModelSpec spec) {
        SafeTensors.Builder b = new SafeTensors.Builder();
        b.putMetadata("format", "pt");
        if (spec != null) {
            b.putMetadata(METADATA_KEY, spec.toJson());
        }
        Map<String, float[]> state = model.state();
        for (Map.Entry<String, Shape> e : model.stateShapes().entrySet()) {
            long[] shape = Arrays.stream(e.getValue().dims()).asLongStream().toArray();
            float[] v = state.get(e.getKey());
            if (e.getKey().endsWith("." + COUNT)) {
                long[] counts = new long[v.length];
                for (int i = 0; i < v.length; i++) {
                    counts[i] = (long) v[i];
                }
                b.putI64(e.getKey(), shape, counts);
            } else {
                b.putF32(e.getKey(), shape, v);
            }
        }
        return b;
    }

    /** Writes the model file to {@code file} directly (created or truncated). */
    public static void write(Sequential model, ModelSpec spec, Path file) throws IOException {
        contents(model, spec).write(file);
    }

    /**
     * Writes the model file to {@code file} whole or not at all, as {@link AtomicFiles#write} does:
     * through a temporary file beside it, moved over it in one step; a failure leaves a previous
     * {@code file} as it was; a symbolic link is written through; an existing file keeps its mode.
     */
    public static void save(Sequential model, ModelSpec spec, Path file) throws IOException {
        SafeTensors.Builder contents = contents(model, spec);
        AtomicFiles.write(file, contents::write);
    }

    /** The {@link ModelSpec} stored in {@code file}, or null when it has none (a PyTorch state_dict). */
    public static ModelSpec readSpec(Path file) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            return spec(st);
        }
    }

    /** Reads a model file that names its model (one normnet wrote). */
    public static Loaded load(Path file) throws IOException {
        return load(file, null);
    }

    /**
     * Reads a model file into a new model built on the host. {@code spec} names the model when the
     * file does not (a PyTorch state_dict); when both do, the caller's wins (the tensors must fit it).
     *
     * @throws ModelFileException when the file names no model and {@code spec} is null, or it does
     *                            not fit the model (see the class comment)
     */
    public static Loaded load(Path file, ModelSpec spec) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            ModelSpec use = spec != null ? spec : spec(st);
            if (use == null) {
                throw new ModelFileException(file + ": the file does not say which model it holds (no '" + METADATA_KEY
                        + "' metadata, as in a PyTorch state_dict); name the model (--model and its options)");
            }
            Sequential model = use.create();
            checkEntries(st, model.inferStateShapes());     // before the model's memory is allocated
            try {
                model.build(0);
                model.loadState(read(st, model.stateShapes()));
            } catch (RuntimeException | Error e) {
                model.close();
                throw e;
            }
            return new Loaded(use, model);
        }
    }

    /** Loads {@code file} into {@code model} (built, on a backend or not); nothing changes unless all of it fits. */
    public static void loadInto(Sequential model, Path file) throws IOException {
        if (!model.isBuilt()) {
            throw new IllegalStateException("build the model before loading " + file);
        }
        try (SafeTensors st = SafeTensors.open(file)) {
            model.loadState(read(st, model.stateShapes()));
        }
    }

    /**
     * The checked state of {@code st} for a model of {@code expected} names and shapes (the class
     * comment lists the checks).
     */
    public static Map<String, float[]> read(SafeTensors st, Map<String, Shape> expected) throws IOException {
        checkEntries(st, expected);
        Path file = st.file();
        Map<String, float[]> state = new LinkedHashMap<>();
        for (String name : expected.keySet()) {
            float[] v = st.floats(name);
            boolean variance = name.endsWith(".running_var");
            boolean count = name.endsWith("." + COUNT);
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    throw new ModelFileException(file + ": tensor '" + name + "' holds " + v[i] + " at index " + i
                            + " (a model file must hold finite values)");
                }
                if ((variance || count) && v[i] < 0) {
                    throw new ModelFileException(file + ": tensor '" + name + "' holds the negative value " + v[i]
                            + " at index " + i + " (a " + (variance ? "variance" : "count") + " is never negative)");
                }
            }
            state.put(name, v);
        }
        return state;
    }

    /**
     * Checks the header of {@code st} against a model of {@code expected} names and shapes, reading
     * no data: the same names, the exact shapes, floating types (an integer type allowed for
     * {@code num_batches_tracked}).
     */
    private static void checkEntries(SafeTensors st, Map<String, Shape> expected) {
        Path file = st.file();
        for (String name : st.entries().keySet()) {
            if (!expected.containsKey(name)) {
                throw new ModelFileException(file + ": tensor '" + name + "' is not in the model (it has "
                        + expected.keySet() + ")");
            }
        }
        for (Map.Entry<String, Shape> e : expected.entrySet()) {
            SafeTensors.Entry t = st.entry(e.getKey());
            if (t == null) {
                throw new ModelFileException(file + ": tensor '" + e.getKey() + "' " + e.getValue() + " is missing");
            }
            long[] want = Arrays.stream(e.getValue().dims()).asLongStream().toArray();
            if (!Arrays.equals(t.shape(), want)) {
                throw new ModelFileException(file + ": tensor '" + e.getKey() + "' has shape " + t.shapeText()
                        + ", the model expects " + Arrays.toString(want));
            }
            boolean count = e.getKey().endsWith("." + COUNT);
            if (count ? !t.dtype().isInteger() && !t.dtype().isFloating() : !t.dtype().isFloating()) {
                throw new ModelFileException(file + ": tensor '" + e.getKey() + "' is " + t.dtype()
                        + ", expected " + (count ? "I64" : "a floating type (F32, F16, BF16 or F64)"));
            }
        }
    }

    private static ModelSpec spec(SafeTensors st) {
        String json = st.metadata().get(METADATA_KEY);
        if (json == null) {
            return null;
        }
        try {
            return ModelSpec.fromJson(json);
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(st.file() + ": metadata '" + METADATA_KEY + "': " + e.getMessage(), e);
        }
    }
}
