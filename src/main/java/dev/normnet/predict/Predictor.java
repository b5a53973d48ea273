package dev.normnet.predict;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.data.Resize;
import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.nn.Sequential;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Class predictions from a model file: the top classes of an image, with their names and softmax
 * probabilities.
 *
 * <pre>
 * try (Predictor p = Predictor.load(Path.of("lenet-bn.safetensors"))) {
 *     List&lt;Prediction&gt; top3 = p.predict(pixels, 3);      // pixels: side x side uint8, row-major
 *     System.out.println(top3.get(0).name() + " " + top3.get(0).probability());
 * }
 * </pre>
 *
 * <p>Inputs are prepared as training prepares them: uint8 pixels are divided by 255, and an image
 * of another size than the model's input ({@link #side()}) is resized bilinearly first
 * ({@link Resize#bilinear}, what {@link Backend#gatherBatch} does on the device). The model runs in
 * eval mode (batch norm with its running statistics), so each image's result does not depend on
 * the others in its batch. Probabilities are the softmax of the float32 logits, computed in float64.
 *
 * <p>Batches: the model is planned once per batch size (see {@link Sequential#forwardPlan}); to keep
 * that to a few plans, a call runs the images in chunks of at most {@code maxBatch}
 * ({@value #DEFAULT_MAX_BATCH} by default), each padded with zero images up to the next power of
 * two (or to {@code maxBatch}). A predictor therefore holds at most log2(maxBatch) + 2 plans.
 *
 * <p><b>Thread safety.</b> A predictor is safe to share between threads: every method may be called
 * from any number of threads at once. The calls that run the model ({@code predict*},
 * {@link #logits}) take one internal lock and run one at a time, because a plan's buffers and a
 * backend's scratch space serve one forward pass at a time (one call still uses all the CPU
 * backend's worker threads). A service that wants requests to run side by side gives each worker
 * thread its own predictor (each with its own backend), or gathers concurrent requests into one
 * {@link #predictBatch} call. A backend passed with {@link Builder#optBackend} must not be used by
 * anything else while the predictor runs on it. {@link #close()} waits for a running call; later
 * calls throw {@link IllegalStateException}.
 */
public final class Predictor implements AutoCloseable {
    /** The default largest number of images one forward pass takes. */
    public static final int DEFAULT_MAX_BATCH = 64;

    private final ReentrantLock lock = new ReentrantLock();
    private final ModelSpec spec;
    private final Sequential model;
    private final Backend backend;
    private final boolean ownsBackend;
    private final int side;
    private final int classes;
    private final int maxBatch;
    private final int[] batchSizes;          // the plan sizes, ascending: 1, 2, 4, ..., maxBatch
    private boolean closed;

    private Predictor(ModelSpec spec, Sequential model, Backend backend, boolean ownsBackend, int maxBatch) {
        this.spec = spec;
        this.model = model;
        this.backend = backend;
        this.ownsBackend = ownsBackend;
        this.side = spec.side();
        this.classes = model.outputShape().sizeInt();
        this.maxBatch = maxBatch;
        TreeSet<Integer> sizes = new TreeSet<>();
        for (int b = 1; b < maxBatch; b *= 2) {
            sizes.add(b);
        }
        sizes.add(maxBatch);
        this.batchSizes = sizes.stream().mapToInt(Integer::intValue).toArray();
    }

    /** A predictor for a model file that names its model (one normnet wrote), on the CPU. */
    public static Predictor load(Path file) throws IOException {
        return builder().setModelFile(file).build();
    }

    /**
     * A predictor for a model file, on the CPU; {@code spec} names the model when the file does not
     * (a PyTorch state_dict), see {@link ModelFile#load(Path, ModelSpec)}.
     */
    public static Predictor load(Path file, ModelSpec spec) throws IOException {
        return builder().setModelFile(file).optSpec(spec).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** What the model is: preset, options and class names. */
    public ModelSpec spec() {
        return spec;
    }

    /** The model's input side: images are side x side. */
    public int side() {
        return side;
    }

    /** The number of classes (the model's outputs). */
    public int classes() {
        return classes;
    }

    /** The name of every class, in output order (the index as text where the file names none). */
    public List<String> classNames() {
        List<String> names = new ArrayList<>(classes);
        for (int i = 0; i < classes; i++) {
            names.add(spec.className(i));
        }
        return List.copyOf(names);
    }

    /** The backend the model runs on, in words. */
    public String describe() {
        return backend.describe();
    }

    /** The {@code top} most probable classes of one side x side uint8 image (row-major), most probable first. */
    public List<Prediction> predict(byte[] pixels, int top) {
        return predict(pixels, side, side, top);
    }

    /** As {@link #predict(byte[], int)} for an image of height x width pixels, resized to the model's side. */
    public List<Prediction> predict(byte[] pixels, int height, int width, int top) {
        return predictBatch(pixels, 1, height, width, top).get(0);
    }

    /**
     * The {@code top} classes of each of {@code count} uint8 images of height x width pixels,
     * stored one after the other ({@code pixels.length == count * height * width}).
     */
    public List<List<Prediction>> predictBatch(byte[] pixels, int count, int height, int width, int top) {
        Objects.requireNonNull(pixels, "pixels");
        if (count < 0 || height < 1 || width < 1 || (long) count * height * width != pixels.length) {
            throw new IllegalArgumentException("expected " + count + " images of " + height + " x " + width + " pixels ("
                    + (long) count * height * width + " bytes), got " + pixels.length + " bytes");
        }
        int px = side * side;
        float[] inputs = new float[Math.multiplyExact(count, px)];
        for (int i = 0; i < count; i++) {
            Resize.bilinear(pixels, i * height * width, height, width, inputs, i * px, side, side, 255f);
        }
        return predictBatch(inputs, count, top);
    }

    /** The {@code top} classes of one input as the model takes it: side x side floats (pixels / 255). */
    public List<Prediction> predict(float[] input, int top) {
        return predictBatch(input, 1, top).get(0);
    }

    /** The {@code top} classes of each of {@code count} inputs of side x side floats, stored one after the other. */
    public List<List<Prediction>> predictBatch(float[] inputs, int count, int top) {
        if (top < 1 || top > classes) {
            throw new IllegalArgumentException("top must be from 1 to " + classes + " (the model's classes), got " + top);
        }
        float[] logits = logits(inputs, count);
        List<List<Prediction>> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(Logits.top(logits, i * classes, classes, top, spec::className));
        }
        return List.copyOf(out);
    }

    /**
     * The eval-mode logits (count, K) of {@code count} inputs of side x side floats, stored one
     * after the other ({@code inputs.length == count * side * side}).
     */
    public float[] logits(float[] inputs, int count) {
        Objects.requireNonNull(inputs, "inputs");
        int px = side * side;
        if (count < 0 || (long) count * px != inputs.length) {
            throw new IllegalArgumentException("expected " + count + " inputs of " + side + " x " + side + " floats ("
                    + (long) count * px + " values), got " + inputs.length);
        }
        float[] out = new float[Math.multiplyExact(count, classes)];
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the predictor is closed");
            }
            for (int start = 0; start < count; start += maxBatch) {
                int n = Math.min(maxBatch, count - start);
                int b = planSize(n);
                Sequential.Plan plan = model.forwardPlan(b);
                // (b, 1, side, side): rows past n lie beyond the inputs, which copyOfRange fills with zeros
                float[] x = Arrays.copyOfRange(inputs, start * px, Math.toIntExact((long) (start + b) * px));
                plan.input().copyFrom(x);
                plan.forward(false);
                float[] y = plan.output().toArray();                                     // (b, K)
                System.arraycopy(y, 0, out, start * classes, n * classes);
            }
        } finally {
            lock.unlock();
        }
        return out;
    }

    /** The smallest plan size that holds {@code n} images. */
    private int planSize(int n) {
        for (int b : batchSizes) {
            if (b >= n) {
                return b;
            }
        }
        throw new IllegalStateException(n + " images exceed the largest batch " + maxBatch);
    }

    /** Frees the model's device state and, when the predictor made it, the backend. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            model.close();
            if (ownsBackend) {
                backend.close();
            }
        } finally {
            lock.unlock();
        }
    }

    /** {@code setModelFile} is required. */
    public static final class Builder {
        private Path file;
        private ModelSpec spec;
        private Backend backend;
        private int maxBatch = DEFAULT_MAX_BATCH;

        /** The model file (safetensors, see {@link ModelFile}). */
        public Builder setModelFile(Path value) {
            this.file = value;
            return this;
        }

        /** Names the model when the file does not (a PyTorch state_dict); when both do, this one wins. */
        public Builder optSpec(ModelSpec value) {
            this.spec = value;
            return this;
        }

        /**
         * The backend to run on, which the caller keeps and closes after the predictor; by default
         * the predictor makes the best CPU backend ({@link Backends#cpu()}) and closes it itself.
         */
        public Builder optBackend(Backend value) {
            this.backend = value;
            return this;
        }

        /** The largest number of images one forward pass takes; {@value #DEFAULT_MAX_BATCH} by default. */
        public Builder optMaxBatch(int value) {
            this.maxBatch = value;
            return this;
        }

        /**
         * Reads the model file and moves the model to the backend.
         *
         * @throws dev.normnet.io.ModelFileException when the file cannot be read into the model (it names the file)
         */
        public Predictor build() throws IOException {
            Objects.requireNonNull(file, "Predictor: setModelFile is required");
            if (maxBatch < 1) {
                throw new IllegalArgumentException("Predictor: max batch must be >= 1, got " + maxBatch);
            }
            ModelFile.Loaded loaded = ModelFile.load(file, spec);
            Backend target = backend != null ? backend : Backends.cpu();
            try {
                loaded.model().to(target);
            } catch (RuntimeException | Error e) {
                loaded.close();
                if (backend == null) {
                    target.close();
                }
                throw e;
            }
            return new Predictor(loaded.spec(), loaded.model(), target, backend == null, maxBatch);
        }
    }
}
