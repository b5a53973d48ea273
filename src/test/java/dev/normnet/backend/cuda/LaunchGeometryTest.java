package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The launch arithmetic: every element covered, every partial group non-empty, limits respected. */
class LaunchGeometryTest {
    @Test
    void ceilDiv() {
        assertEquals(0, LaunchGeometry.ceilDiv(0, 256));
        assertEquals(1, LaunchGeometry.ceilDiv(1, 256));
        assertEquals(1, LaunchGeometry.ceilDiv(256, 256));
        assertEquals(2, LaunchGeometry.ceilDiv(257, 256));
    }

    @Test
    void strideBlocks() {
        assertEquals(1, LaunchGeometry.strideBlocks(0));
        assertEquals(1, LaunchGeometry.strideBlocks(1));
        assertEquals(1, LaunchGeometry.strideBlocks(256));
        assertEquals(2, LaunchGeometry.strideBlocks(257));
        assertEquals(4704, LaunchGeometry.strideBlocks(256L * 6 * 28 * 28));  // LeNet conv1 output
        assertEquals((1L << 31) - (1L << 24), LaunchGeometry.STRIDE_MAX_ELEMENTS);
        assertEquals(LaunchGeometry.MAX_STRIDE_BLOCKS, LaunchGeometry.strideBlocks(LaunchGeometry.STRIDE_MAX_ELEMENTS));
        // one more and the last thread's i += gridDim.x * blockDim.x would pass 2^31 - 1
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LaunchGeometry.strideBlocks(LaunchGeometry.STRIDE_MAX_ELEMENTS + 1));
        assertEquals("2130706433 elements is too many for the element-wise kernels' int index (at most 2130706432)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LaunchGeometry.strideBlocks(1L << 40));
        // pooling and the gather index in 64 bits or unsigned: no such limit
        assertEquals(LaunchGeometry.MAX_STRIDE_BLOCKS, LaunchGeometry.wideStrideBlocks(Integer.MAX_VALUE));
        assertEquals(4704, LaunchGeometry.wideStrideBlocks(256L * 6 * 28 * 28));
    }

    @Test
    void batchAndChannelGrids() {
        assertEquals(1, LaunchGeometry.batchGrid(1));
        assertEquals(256, LaunchGeometry.batchGrid(256));
        assertEquals(65535, LaunchGeometry.batchGrid(100000));
        assertEquals(1, LaunchGeometry.channelBlocks(6, 6));
        assertEquals(2, LaunchGeometry.channelBlocks(6, 5));
        assertEquals(1, LaunchGeometry.channelBlocks(8, 8));
        assertEquals(2, LaunchGeometry.channelBlocks(16, 8));
        assertEquals(3, LaunchGeometry.channelBlocks(17, 8));
    }

    @Test
    void convChannelsPerThreadLeavesTheFewestIdleLanes() {
        assertEquals(6, LaunchGeometry.convChannelsPerThread(6));    // LeNet conv1 K, conv2 C: none idle against 2
        assertEquals(6, LaunchGeometry.convChannelsPerThread(12));   // none against 4
        assertEquals(6, LaunchGeometry.convChannelsPerThread(1));    // 5 against 7
        assertEquals(8, LaunchGeometry.convChannelsPerThread(16));   // LeNet conv2 K: none against 2
        assertEquals(8, LaunchGeometry.convChannelsPerThread(8));
        assertEquals(8, LaunchGeometry.convChannelsPerThread(7));    // 1 against 5
        assertEquals(6, LaunchGeometry.convChannelsPerThread(17));   // 1 against 7
        for (int c = 1; c <= 200; c++) {
            int cb = LaunchGeometry.convChannelsPerThread(c);
            int other = cb == LaunchGeometry.CONV_CB ? LaunchGeometry.CONV_CB_NARROW : LaunchGeometry.CONV_CB;
            long idle = (long) LaunchGeometry.channelBlocks(c, cb) * cb - c;
            long idleOther = (long) LaunchGeometry.channelBlocks(c, other) * other - c;
            assertTrue(idle <= idleOther, c + " channels: " + cb + " per thread idles " + idle + ", " + other + " would idle " + idleOther);
            assertTrue(cb == LaunchGeometry.CONV_CB || idle < idleOther, c + " channels: ties go to " + LaunchGeometry.CONV_CB);
        }
    }

    @Test
    void convChunks() {
        assertEquals(1, LaunchGeometry.convChunk(1, 5, 5, 6));    // conv1: C = 1
        assertEquals(6, LaunchGeometry.convChunk(6, 5, 5, 8));    // conv2 forward: all 6 input channels
        assertEquals(16, LaunchGeometry.convChunk(16, 5, 5, 6));  // conv2 backward-data: all 16 output channels
        assertEquals(30, LaunchGeometry.convChunk(40, 5, 5, 8));  // 6144 / (25 * 8)
        assertEquals(40, LaunchGeometry.convChunk(41, 5, 5, 6));  // 6144 / (25 * 6) = 40.96
        assertEquals(1, LaunchGeometry.convChunk(64, 27, 27, 8));
        assertEquals(6 * 25 * 8 * 4, LaunchGeometry.convSharedBytes(6, 5, 5, 8));
        assertEquals(6 * 25 * 6 * 4, LaunchGeometry.convSharedBytes(6, 5, 5, 6));
        for (int perThread : new int[] {LaunchGeometry.CONV_CB_NARROW, LaunchGeometry.CONV_CB}) {
            for (int c : new int[] {1, 3, 6, 16, 40, 300}) {
                for (int r : new int[] {1, 3, 5, 11, 27}) {
                    int chunk = LaunchGeometry.convChunk(c, r, r, perThread);
                    assertTrue(chunk >= 1 && chunk <= c);
                    assertTrue(LaunchGeometry.convSharedBytes(chunk, r, r, perThread) <= LaunchGeometry.MAX_DYNAMIC_SMEM_BYTES);
                }
            }
        }
        assertEquals(1, LaunchGeometry.convChunk(1, 40, 40, 6));  // 1600 taps x 6 x 4 B = 37.5 KiB fit
        assertThrows(IllegalArgumentException.class, () -> LaunchGeometry.convChunk(1, 40, 40, 8));  // 50 KiB do not
        assertThrows(IllegalArgumentException.class, () -> LaunchGeometry.convChunk(1, 46, 46, 6));
    }

    private static void assertCovers(LaunchGeometry.Split s, long total) {
        assertTrue(s.groups() >= 1 && s.chunk() >= 1, s.toString());
        assertTrue((long) s.groups() * s.chunk() >= total, "covers all " + total + ": " + s);
        assertTrue((long) (s.groups() - 1) * s.chunk() < total, "last group non-empty for " + total + ": " + s);
    }

    @Test
    void filterSplits() {
        // LeNet conv1 at batch 256: 6*1*5*5 + 6 outputs over 256*28*28 positions
        LaunchGeometry.Split conv1 = LaunchGeometry.filterSplit(156, 256L * 28 * 28);
        assertEquals(239, conv1.chunk());  // ceil(200704 / ceil(131072 / 156))
        assertEquals(840, conv1.groups());
        assertCovers(conv1, 256L * 28 * 28);
        // LeNet conv2: 16*6*5*5 + 16 outputs over 256*10*10
        LaunchGeometry.Split conv2 = LaunchGeometry.filterSplit(2416, 25600);
        assertEquals(55, conv2.groups());
        assertCovers(conv2, 25600);
        // LeNet-BN at 224x224, batch 256: conv2 over 256*106*106, conv1 over 256*220*220; no thread
        // runs more than FILTER_MAX_CHUNK steps
        LaunchGeometry.Split conv2at224 = LaunchGeometry.filterSplit(2416, 256L * 106 * 106);
        assertEquals(703, conv2at224.groups());
        assertTrue(conv2at224.chunk() <= LaunchGeometry.FILTER_MAX_CHUNK, "chunk " + conv2at224.chunk());
        assertCovers(conv2at224, 256L * 106 * 106);
        LaunchGeometry.Split conv1at224 = LaunchGeometry.filterSplit(156, 256L * 220 * 220);
        assertEquals(3025, conv1at224.groups());
        assertCovers(conv1at224, 256L * 220 * 220);
        for (int outputs : new int[] {1, 7, 156, 2416, 100000, 1 << 20}) {
            for (long m : new long[] {1, 2, 63, 64, 65, 1000, 25600, 200704, 12_390_400L, 1L << 31}) {
                LaunchGeometry.Split s = LaunchGeometry.filterSplit(outputs, m);
                assertCovers(s, m);
                assertTrue(s.groups() <= LaunchGeometry.FILTER_MAX_GROUPS);
                assertTrue(s.groups() <= LaunchGeometry.MAX_GRID_YZ, "grid y limit");
                assertTrue(s.chunk() <= LaunchGeometry.FILTER_MAX_CHUNK || s.groups() == LaunchGeometry.FILTER_MAX_GROUPS,
                        outputs + " outputs over " + m + ": chunk " + s.chunk() + " with " + s.groups() + " groups");
            }
        }
    }

    @Test
    void batchNormSplits() {
        assertEquals(new LaunchGeometry.Split(1, 256), LaunchGeometry.batchNormSplit(256));       // BN1d at batch 256
        assertEquals(new LaunchGeometry.Split(1, 2), LaunchGeometry.batchNormSplit(2));
        LaunchGeometry.Split lenet = LaunchGeometry.batchNormSplit(256L * 28 * 28);               // BN after conv1
        assertEquals(49, lenet.groups());
        assertCovers(lenet, 256L * 28 * 28);
        for (long m : new long[] {2, 3, 4095, 4096, 4097, 25600, 12_390_400L, 100_000_000L}) {
            LaunchGeometry.Split s = LaunchGeometry.batchNormSplit(m);
            assertCovers(s, m);
            assertTrue(s.groups() <= LaunchGeometry.BN_MAX_GROUPS);
        }
    }

    @Test
    void filterThreadsCoverSmallOutputCountsInWholeWarps() {
        assertEquals(160, LaunchGeometry.filterThreads(156));   // conv1: 6x1x5x5 weights + 6 biases
        assertEquals(32, LaunchGeometry.filterThreads(1));
        assertEquals(32, LaunchGeometry.filterThreads(32));
        assertEquals(64, LaunchGeometry.filterThreads(33));
        assertEquals(LaunchGeometry.THREADS, LaunchGeometry.filterThreads(255));
        assertEquals(LaunchGeometry.THREADS, LaunchGeometry.filterThreads(2416));  // conv2 at 224: 10 blocks
        for (int outputs = 1; outputs < 600; outputs++) {
            int t = LaunchGeometry.filterThreads(outputs);
            assertEquals(0, t % 32, outputs + " outputs: whole warps");
            long idle = LaunchGeometry.ceilDiv(outputs, t) * t - outputs;
            assertTrue(idle < 32 || outputs > LaunchGeometry.THREADS, outputs + " outputs: " + idle + " idle threads");
        }
    }

    @Test
    void convolutionBlocksLeaveFewThreadsIdle() {
        assertEquals(160, LaunchGeometry.convThreads(28 * 28));   // conv1 forward: 5 blocks, 16 idle
        assertEquals(128, LaunchGeometry.convThreads(10 * 10));   // conv2 forward: one block, 28 idle
        assertEquals(64, LaunchGeometry.convThreads(8 * 8));      // d2l's conv2 forward, no padding
        assertEquals(224, LaunchGeometry.convThreads(14 * 14));   // conv2 backward-data
        assertEquals(32, LaunchGeometry.convThreads(1));
        assertEquals(256, LaunchGeometry.convThreads(224 * 224)); // 196 blocks, none idle
        assertEquals(256, LaunchGeometry.convThreads(106 * 106)); // 28 idle: 128 ties, the larger wins
        for (long pixels = 1; pixels <= 60_000; pixels += pixels < 2000 ? 1 : 97) {
            int t = LaunchGeometry.convThreads(pixels);
            assertEquals(0, t % 32, pixels + " pixels: whole warps");
            assertTrue(t <= LaunchGeometry.THREADS, pixels + " pixels: " + t);
            long idle = LaunchGeometry.ceilDiv(pixels, t) * t - pixels;
            for (int other = 128; other <= LaunchGeometry.THREADS && pixels > LaunchGeometry.THREADS; other += 32) {
                assertTrue(idle <= LaunchGeometry.ceilDiv(pixels, other) * other - pixels,
                        pixels + " pixels: " + t + " threads leave " + idle + " idle, " + other + " fewer");
            }
            if (pixels <= LaunchGeometry.THREADS) {
                assertTrue(idle < 32, pixels + " pixels: one block, less than a warp idle");
            }
        }
    }

    @Test
    void gemmSplits() {
        // LeNet fc1 forward (256 x 120, k = 256): 8 tiles but k too short to split
        assertEquals(new LaunchGeometry.Split(1, 256), LaunchGeometry.gemmSplit(256, 120, 256));
        // LeNet at 224x224, fc1 forward (256 x 120, k = 44944): 16 splits of 2816
        LaunchGeometry.Split big = LaunchGeometry.gemmSplit(256, 120, 44944);
        assertEquals(16, big.groups());
        assertEquals(2816, big.chunk());
        // its weight gradient (120 x 44944, k = 256) has plenty of tiles
        assertEquals(1, LaunchGeometry.gemmSplit(120, 44944, 256).groups());
        for (int m : new int[] {1, 7, 64, 256, 1000}) {
            for (int n : new int[] {1, 10, 120, 44944}) {
                for (int k : new int[] {1, 15, 16, 17, 511, 513, 3000, 44944}) {
                    LaunchGeometry.Split s = LaunchGeometry.gemmSplit(m, n, k);
                    assertCovers(s, k);
                    assertEquals(0, s.chunk() % LaunchGeometry.GEMM_BK, "chunks are whole k-tiles: " + s);
                    assertTrue(s.groups() <= LaunchGeometry.MAX_GRID_YZ);
                }
            }
        }
    }

    @Test
    void softmaxBlocks() {
        assertEquals(32, LaunchGeometry.softmaxBlocks(256));
        assertEquals(1, LaunchGeometry.softmaxBlocks(1));
        assertEquals(2, LaunchGeometry.softmaxBlocks(9));
    }
}
