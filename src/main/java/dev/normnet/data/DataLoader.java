package dev.normnet.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Splits a labelled image set into mini-batches, epoch after epoch.
 * <p>
 * The order of an epoch is a permutation of 0..count-1: the identity without shuffling, otherwise a
 * Fisher-Yates shuffle driven by a {@link SplittableRandom} whose seed is mixed from the loader's
 * seed and the epoch number, so every epoch has its own order and the same (seed, epoch) always
 * gives the same one, whatever else happened before. Batch {@code b} holds the images
 * {@code order[b*B .. min((b+1)*B, count))}; with {@code dropLast} a last batch smaller than B is
 * left out (as PyTorch's {@code drop_last}).
 * <p>
 * A batch on the host is {@code x} (B, 1, S, S) with values pixel/255, resized to S x S with
 * {@link Resize#bilinear} when the images are another size (torchvision's {@code Resize(S)} then
 * {@code ToTensor()}, but on float values; the float division pixel / 255f, as ToTensor), and {@code labels} (B) as float32 integers. The
 * iterator reuses its buffers: a {@link Batch} is valid until the next call to {@code next()}.
 * Training on a {@code Backend} usually keeps the images resident on the device and uses only
 * {@link #order(int)}.
 */
public final class DataLoader {
    private final LabeledImages images;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final long seed;
    private final int resize;
    private final Resize.Plan plan;

    /**
     * @param images    the data set
     * @param batchSize images per batch, at least 1
     * @param shuffle   a new seeded permutation every epoch; otherwise the stored order
     * @param dropLast  leave out a last batch smaller than batchSize
     * @param seed      the shuffling seed
     * @param resize    side S of the square output images, at least 1 (28 keeps Fashion-MNIST as it is)
     */
    public DataLoader(LabeledImages images, int batchSize, boolean shuffle, boolean dropLast, long seed, int resize) {
        this.images = Objects.requireNonNull(images, "images");
        if (images.count() < 1) {
            throw new IllegalArgumentException("images: the data set is empty");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be at least 1, got " + batchSize);
        }
        if (dropLast && batchSize > images.count()) {
            throw new IllegalArgumentException("batchSize " + batchSize + " is larger than the " + images.count()
                    + " images, and dropLast leaves no batch");
        }
        if (resize < 1 || resize > 4096) {
            throw new IllegalArgumentException("resize must be in 1..4096, got " + resize);
        }
        if ((long) batchSize * resize * resize > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("a batch of " + batchSize + " images of " + resize + " x " + resize
                    + " does not fit in one float array");
        }
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.seed = seed;
        this.resize = resize;
        this.plan = Resize.plan(images.height(), images.width(), resize, resize);
    }

    public LabeledImages images() {
        return images;
    }

    public int batchSize() {
        return batchSize;
    }

    public boolean shuffle() {
        return shuffle;
    }

    public boolean dropLast() {
        return dropLast;
    }

    public long seed() {
        return seed;
    }

    /** Side S of the output images. */
    public int resize() {
        return resize;
    }

    /** Batches per epoch: count / B with dropLast, ceil(count / B) without. */
    public int batches() {
        int n = images.count();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** Images per epoch: every image, or count rounded down to whole batches with dropLast. */
    public int examples() {
        return dropLast ? batches() * batchSize : images.count();
    }

    /** Number of images in batch {@code b}: B, or what is left for the last one. */
    public int batchLength(int b) {
        if (b < 0 || b >= batches()) {
            throw new IndexOutOfBoundsException("batch " + b + " of " + batches());
        }
        return Math.min(batchSize, images.count() - b * batchSize);
    }

    /** The order of {@code epoch} (0-based): a fresh array holding a permutation of 0..count-1. */
    public int[] order(int epoch) {
        int[] out = new int[images.count()];
        order(epoch, out);
        return out;
    }

    /** Writes the order of {@code epoch} into {@code out} (count or more entries) without allocating. */
    public void order(int epoch, int[] out) {
        if (epoch < 0) {
            throw new IllegalArgumentException("epoch must be at least 0, got " + epoch);
        }
        int n = images.count();
        if (out.length < n) {
            throw new IllegalArgumentException("order buffer has " + out.length + " entries, needs " + n);
        }
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        if (!shuffle) {
            return;
        }
        SplittableRandom rng = new SplittableRandom(epochSeed(seed, epoch));
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = out[i];
            out[i] = out[j];
            out[j] = t;
        }
    }

    /**
     * The seed of an epoch's generator: the loader's seed and the epoch mixed with SplitMix64's
     * finaliser, so that neighbouring epochs and neighbouring seeds give unrelated streams.
     */
    static long epochSeed(long seed, int epoch) {
        long z = seed ^ mix64((epoch + 1L) * 0x9E3779B97F4A7C15L);
        return mix64(z);
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * Fills a batch: for i in [0, len), image {@code order[start + i]} goes to
     * {@code x[i*S*S ..]} (values pixel/255, resized to S x S) and its label to {@code labels[i]}.
     *
     * @param x      (len, 1, S, S), at least len*S*S floats
     * @param labels (len), at least len floats
     */
    public void gather(int[] order, int start, int len, float[] x, float[] labels) {
        int n = images.count();
        if (start < 0 || len < 0 || (long) start + len > order.length) {
            throw new IllegalArgumentException("batch [" + start + ", " + (start + len) + ") is outside the order of "
                    + order.length + " entries");
        }
        int s2 = resize * resize;
        if (x.length < (long) len * s2 || labels.length < len) {
            throw new IllegalArgumentException("batch buffers too small for " + len + " images of " + resize + " x "
                    + resize + ": x has " + x.length + ", labels " + labels.length);
        }
        int px = images.height() * images.width();
        byte[] pixels = images.pixels();
        byte[] lab = images.labels();
        float divisor = 255f;
        for (int i = 0; i < len; i++) {
            int j = order[start + i];
            if (j < 0 || j >= n) {
                throw new IllegalArgumentException("order[" + (start + i) + "] = " + j + " is not an image index (0.."
                        + (n - 1) + ")");
            }
            plan.apply(pixels, j * px, x, i * s2, divisor);
            labels[i] = lab[j] & 0xFF;
        }
    }

    /** The batches of {@code epoch}, each filled on demand into buffers the iterator reuses. */
    public Iterable<Batch> epoch(int epoch) {
        int[] order = order(epoch);
        return () -> new BatchIterator(order);
    }

    /**
     * One batch on the host, overwritten by the next call to {@code next()}. {@link #x()} is
     * (size, 1, S, S) and {@link #labels()} (size): the arrays have exactly that length (the last,
     * smaller batch has its own pair of buffers).
     */
    public static final class Batch {
        private float[] x;
        private float[] labels;
        private int index;
        private int size;

        /** (size, 1, S, S) values pixel/255. */
        public float[] x() {
            return x;
        }

        /** (size) labels as float32 integers. */
        public float[] labels() {
            return labels;
        }

        /** Number of this batch in its epoch, from 0. */
        public int index() {
            return index;
        }

        /** Images in this batch. */
        public int size() {
            return size;
        }
    }

    private final class BatchIterator implements Iterator<Batch> {
        private final int[] order;
        private final int total = batches();
        private final float[] fullX;
        private final float[] fullLabels;
        private float[] tailX;
        private float[] tailLabels;
        private final Batch batch = new Batch();
        private int next;

        BatchIterator(int[] order) {
            this.order = order;
            int full = Math.min(batchSize, images.count());
            this.fullX = new float[full * resize * resize]; // (B, 1, S, S)
            this.fullLabels = new float[full]; // (B)
        }

        @Override
        public boolean hasNext() {
            return next < total;
        }

        @Override
        public Batch next() {
            if (next >= total) {
                throw new NoSuchElementException("no batch " + next + " in an epoch of " + total);
            }
            int len = batchLength(next);
            float[] x = fullX;
            float[] lab = fullLabels;
            if (len * resize * resize != fullX.length) {
                if (tailX == null) {
                    tailX = new float[len * resize * resize];
                    tailLabels = new float[len];
                }
                x = tailX;
                lab = tailLabels;
            }
            gather(order, next * batchSize, len, x, lab);
            batch.x = x;
            batch.labels = lab;
            batch.index = next;
            batch.size = len;
            next++;
            return batch;
        }
    }
}
