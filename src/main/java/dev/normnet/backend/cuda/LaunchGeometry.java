package dev.normnet.backend.cuda;

/**
 * Grid and block sizes, shared-memory sizes and reduction splits for every kernel of
 * {@code normnet.fatbin}. Pure arithmetic, so it is unit-tested without a GPU. Constants mirror
 * the {@code #define}s of the kernel sources (named in each comment).
 */
public final class LaunchGeometry {
    /** Threads per block of the element-wise and gather kernels. */
    public static final int THREADS = 256;
    /** Threads per block of the reduction kernels ({@code NN_REDUCE_THREADS} in common.cuh). */
    public static final int REDUCE_THREADS = 256;
    /** Channels per thread of the convolution kernels without suffix ({@code CONV_CB} in conv2d.cu). */
    public static final int CONV_CB = 8;
    /** Channels per thread of the {@code _cb6} convolution kernels ({@code CONV_CB_NARROW} in conv2d.cu). */
    public static final int CONV_CB_NARROW = 6;
    /** Shared-memory budget, in floats, for the staged convolution weights (24 KiB). */
    public static final int CONV_SMEM_FLOATS = 6144;
    /** Shared memory a block may have without opting in, static and dynamic together (48 KiB). */
    public static final int MAX_DYNAMIC_SMEM_BYTES = 48 * 1024;
    /** Upper bound on blocks of a grid-stride kernel: more would only add scheduling overhead. */
    public static final int MAX_STRIDE_BLOCKS = 1 << 16;
    /** The most elements a grid-stride kernel ({@link #strideBlocks}) walks without its int index wrapping. */
    public static final long STRIDE_MAX_ELEMENTS = (long) Integer.MAX_VALUE + 1 - (long) MAX_STRIDE_BLOCKS * THREADS;
    /** Largest grid y or z extent CUDA allows. */
    public static final int MAX_GRID_YZ = 65535;
    /** Rows of the softmax kernel per block ({@code SCE_WARPS_PER_BLOCK} in softmax_ce.cu). */
    public static final int SOFTMAX_ROWS_PER_BLOCK = 8;
    /** Output tile of the GEMM kernel ({@code GEMM_BM}, {@code GEMM_BN} in gemm.cu). */
    public static final int GEMM_TILE = 64;
    /** k-tile of the GEMM kernel ({@code GEMM_BK} in gemm.cu). */
    public static final int GEMM_BK = 16;
    /** Fewer output tiles than this make the GEMM split its reduction dimension. */
    public static final int GEMM_TARGET_BLOCKS = 128;
    /** Smallest reduction length per GEMM split. */
    public static final int GEMM_MIN_SPLIT_K = 512;
    /** Values of one batch-norm channel handled by one block (before clamping). */
    public static final int BN_VALUES_PER_BLOCK = 4096;
    /** Most blocks one batch-norm channel is split over. */
    public static final int BN_MAX_GROUPS = 1024;
    /** Threads the conv2d backward-filter partial pass aims for over all outputs. */
    public static final int FILTER_TARGET_THREADS = 1 << 17;
    /** Smallest reduction range of one conv2d backward-filter thread. */
    public static final int FILTER_MIN_CHUNK = 64;
    /**
     * Longest reduction range of one conv2d backward-filter thread (while groups remain): at
     * 224x224 the thread target alone gives conv2 (2416 outputs, m = 256*106*106) 55 groups of
     * 52,300 serial steps on 140k threads, half an H100's thread slots; with this cap, 703 groups
     * of at most 4,096 steps.
     */
    public static final int FILTER_MAX_CHUNK = 4096;
    /** Most partial groups of the conv2d backward-filter pass. */
    public static final int FILTER_MAX_GROUPS = 4096;
    /** Partial counts up to this are merged one thread per output (partials_merge_serial). */
    public static final int SERIAL_MERGE_MAX = 32;

    private LaunchGeometry() {
    }

    /** ceil(a / b) for a >= 0, b > 0. */
    public static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** Blocks of {@link #THREADS} for a grid-stride loop over n elements: at least 1, at most {@link #MAX_STRIDE_BLOCKS}. */
    public static int strideBlocks(long n) {
        int blocks = wideStrideBlocks(n);
        if (n - 1 + (long) blocks * THREADS > Integer.MAX_VALUE) {
            // i += gridDim.x * blockDim.x on an int index would wrap past 2^31 - 1 and go negative
            throw new IllegalArgumentException(n + " elements is too many for the element-wise kernels' int index (at most "
                    + STRIDE_MAX_ELEMENTS + ")");
        }
        return blocks;
    }

    /** {@link #strideBlocks} for a kernel whose grid-stride index is 64-bit or unsigned (pooling, the batch gather): no int limit. */
    public static int wideStrideBlocks(long n) {
        return (int) Math.max(1, Math.min(ceilDiv(n, THREADS), MAX_STRIDE_BLOCKS));
    }

    /** Grid z extent striding over a batch of n (conv kernels loop n += gridDim.z). */
    public static int batchGrid(int n) {
        return Math.max(1, Math.min(n, MAX_GRID_YZ));
    }

    /**
     * Channels per thread of the convolution kernel over {@code channels} channels (output
     * channels forward, input channels backward-data): {@link #CONV_CB_NARROW} when that leaves
     * fewer padding lanes in the last channel block than {@link #CONV_CB} (6 channels: none
     * against 2 of 8), else {@link #CONV_CB}.
     */
    public static int convChannelsPerThread(int channels) {
        long idleWide = ceilDiv(channels, CONV_CB) * CONV_CB - channels;
        long idleNarrow = ceilDiv(channels, CONV_CB_NARROW) * CONV_CB_NARROW - channels;
        return idleNarrow < idleWide ? CONV_CB_NARROW : CONV_CB;
    }

    /** Channel blocks of a convolution kernel over {@code channels} channels, {@code perThread} per thread. */
    public static int channelBlocks(int channels, int perThread) {
        return (int) ceilDiv(channels, perThread);
    }

    /**
     * How many channels (input channels for the forward pass, output channels for backward-data)
     * the convolution kernels stage in shared memory at once: as many as fit in
     * {@link #CONV_SMEM_FLOATS} with {@code perThread} channels of weights each, at least 1.
     *
     * @throws IllegalArgumentException when even one channel's filter does not fit in 48 KiB
     */
    public static int convChunk(int channels, int r, int s, int perThread) {
        long perChannel = (long) r * s * perThread;
        if (perChannel * Float.BYTES > MAX_DYNAMIC_SMEM_BYTES) {
            throw new IllegalArgumentException("conv2d: filter " + r + "x" + s + " is too large for the CUDA kernels"
                    + " (at most " + (MAX_DYNAMIC_SMEM_BYTES / Float.BYTES / perThread) + " taps)");
        }
        return (int) Math.max(1, Math.min(channels, CONV_SMEM_FLOATS / perChannel));
    }

    /** Dynamic shared memory of a convolution launch staging {@code chunk} channels of r x s filters. */
    public static int convSharedBytes(int chunk, int r, int s, int perThread) {
        return chunk * r * s * perThread * Float.BYTES;
    }

    /** A reduction of {@code total} values cut into {@code groups} contiguous ranges of {@code chunk}. */
    public record Split(int groups, int chunk) {
    }

    /**
     * Split of the conv2d backward-filter reduction over m = N*P*Q positions for {@code outputs}
     * = K*C*R*S (+K) sums: enough groups that outputs * groups reaches
     * {@link #FILTER_TARGET_THREADS}, each range at least {@link #FILTER_MIN_CHUNK} long and, more
     * groups if need be, at most {@link #FILTER_MAX_CHUNK}; at most {@link #FILTER_MAX_GROUPS}
     * groups. Every group is non-empty.
     */
    public static Split filterSplit(int outputs, long m) {
        long groups = ceilDiv(FILTER_TARGET_THREADS, outputs);
        groups = Math.min(groups, ceilDiv(m, FILTER_MIN_CHUNK));
        groups = Math.max(groups, ceilDiv(m, FILTER_MAX_CHUNK));
        groups = Math.max(1, Math.min(groups, FILTER_MAX_GROUPS));
        long chunk = ceilDiv(m, groups);
        if (chunk > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("conv2d backward-filter: reduction of " + m + " positions is too long");
        }
        return new Split((int) ceilDiv(m, chunk), (int) chunk);
    }

    /**
     * Threads per block of the convolution kernels that give each thread one pixel of a plane of
     * {@code pixels} (forward: P*Q output pixels; backward-data: H*W input pixels; grid x is
     * ceil(pixels / threads)): whole warps, the fewest idle threads in the plane's last block.
     * Up to {@link #THREADS} pixels, one block of the pixels rounded up to whole warps (LeNet's
     * conv2, 10x10: 128 threads, not 256 with 156 idle); above, the block of 128 to 256 threads
     * that leaves the fewest idle, the larger on a tie (conv1, 28x28: 160 threads, 5 blocks and
     * 16 idle, not 4 blocks of 256 and 240 idle). The kernels compute each pixel alone, so the
     * choice changes no result.
     */
    public static int convThreads(long pixels) {
        if (pixels <= THREADS) {
            return (int) ceilDiv(Math.max(pixels, 1), 32) * 32;
        }
        int best = THREADS;
        long bestIdle = ceilDiv(pixels, THREADS) * THREADS - pixels;
        for (int t = THREADS - 32; t >= 128; t -= 32) {
            long idle = ceilDiv(pixels, t) * t - pixels;
            if (idle < bestIdle) {
                best = t;
                bestIdle = idle;
            }
        }
        return best;
    }

    /**
     * Threads per block of the conv2d backward-filter partial pass over {@code outputs} sums
     * (grid x covers them): {@link #THREADS}, or for fewer outputs than that, the outputs rounded
     * up to whole warps, so conv1's 156 sums (6x1x5x5 weights and 6 biases) leave 4 threads idle,
     * not 100 of two 128-thread blocks.
     */
    public static int filterThreads(int outputs) {
        return outputs >= THREADS ? THREADS : (int) ceilDiv(Math.max(outputs, 1), 32) * 32;
    }

    /**
     * Split of one batch-norm channel's m values over blocks: about {@link #BN_VALUES_PER_BLOCK}
     * values each, at most {@link #BN_MAX_GROUPS} blocks; every block non-empty.
     */
    public static Split batchNormSplit(long m) {
        long groups = Math.max(1, Math.min(ceilDiv(m, BN_VALUES_PER_BLOCK), BN_MAX_GROUPS));
        long chunk = ceilDiv(m, groups);
        if (chunk > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("batch norm: " + m + " values per channel is too many");
        }
        return new Split((int) ceilDiv(m, chunk), (int) chunk);
    }

    /**
     * Split-K of a GEMM with an (M, N) output and reduction length k: 1 when the output has at
     * least {@link #GEMM_TARGET_BLOCKS} tiles, else enough splits to reach that many blocks, each
     * at least {@link #GEMM_MIN_SPLIT_K} long; chunks are multiples of {@link #GEMM_BK}.
     */
    public static Split gemmSplit(int m, int n, int k) {
        long tiles = ceilDiv(m, GEMM_TILE) * ceilDiv(n, GEMM_TILE);
        long splits = 1;
        if (tiles < GEMM_TARGET_BLOCKS) {
            splits = Math.max(1, Math.min(ceilDiv(GEMM_TARGET_BLOCKS, tiles), ceilDiv(k, GEMM_MIN_SPLIT_K)));
        }
        long chunk = ceilDiv(ceilDiv(Math.max(k, 1), splits), GEMM_BK) * GEMM_BK;
        return new Split((int) Math.max(1, ceilDiv(k, chunk)), (int) chunk);
    }

    /** Blocks of the softmax cross-entropy row kernel for n rows. */
    public static int softmaxBlocks(int n) {
        return (int) Math.max(1, Math.min(ceilDiv(n, SOFTMAX_ROWS_PER_BLOCK), MAX_STRIDE_BLOCKS));
    }
}
