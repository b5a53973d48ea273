package dev.normnet.data;

import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The order in which a labelled image set is cut into mini-batches, epoch after epoch. The
 * images themselves are gathered into batches by the backend ({@code Backend.gatherBatch}), on
 * the device where they are resident.
 * <p>
 * The order of an epoch is a permutation of 0..count-1: the identity without shuffling, otherwise a
 * Fisher-Yates shuffle driven by a {@link SplittableRandom} whose seed is mixed from the loader's
 * seed and the epoch number, so every epoch has its own order and the same (seed, epoch) always
 * gives the same one, whatever else happened before. Batch {@code b} holds the images
 * {@code order[b*B .. min((b+1)*B, count))}; with {@code dropLast} a last batch smaller than B is
 * left out (as PyTorch's {@code drop_last}).
 */
public final class DataLoader {
    private final LabeledImages images;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final long seed;

    /**
     * @param images    the data set
     * @param batchSize images per batch, at least 1
     * @param shuffle   a new seeded permutation every epoch; otherwise the stored order
     * @param dropLast  leave out a last batch smaller than batchSize
     * @param seed      the shuffling seed
     */
    public DataLoader(LabeledImages images, int batchSize, boolean shuffle, boolean dropLast, long seed) {
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
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.seed = seed;
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
}
