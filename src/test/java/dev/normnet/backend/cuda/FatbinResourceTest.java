package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The build put the kernels on the class path: normnet.fatbin holds SASS for sm_80, sm_86,
 * sm_89 and sm_90 and PTX for compute_90, and every kernel the CUDA backend launches is in each SASS
 * image. Skips where the build had no nvcc.
 */
class FatbinResourceTest {
    private static final int FATBIN_MAGIC = 0xBA55ED50;
    private static final int KIND_PTX = 1;
    private static final int KIND_ELF = 2;

    private static boolean buildHadNvcc() {
        String skip = System.getProperty("normnet.kernels.skip");
        return Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc")) && !"true".equals(skip);
    }

    @Test
    void fatbinHoldsEveryArchitectureAndKernel() throws IOException {
        Assumptions.assumeTrue(buildHadNvcc(), "the build had no nvcc at /usr/local/cuda/bin/nvcc: kernels not built");
        byte[] fatbin = CudaDevice.readFatbin();
        assertNotNull(fatbin, CudaDevice.FATBIN_RESOURCE + " is missing although nvcc is installed");
        Map<String, List<String>> signatures = CudaDevice.readSignatures();
        assertEquals(kernelsInSource(), new TreeSet<>(signatures.keySet()), "every NN_KERNEL of src/main/cuda, and only those");

        ByteBuffer b = ByteBuffer.wrap(fatbin).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(FATBIN_MAGIC, b.getInt(0), "fatbin magic");
        int headerSize = b.getShort(6) & 0xFFFF;
        long size = b.getLong(8);
        assertEquals(fatbin.length, headerSize + size, "fatbin size field");
        Map<Integer, byte[]> elf = new TreeMap<>();
        Set<Integer> ptx = new TreeSet<>();
        long off = headerSize;
        while (off < headerSize + size) {
            int at = (int) off;
            int kind = b.getShort(at) & 0xFFFF;
            int entryHeader = b.getInt(at + 4);
            long payload = b.getLong(at + 8);
            int sm = b.getInt(at + 28);
            byte[] body = new byte[(int) payload];
            System.arraycopy(fatbin, at + entryHeader, body, 0, body.length);
            if (kind == KIND_ELF) {
                assertEquals(0x7f, body[0] & 0xFF, "ELF image for sm_" + sm);
                assertEquals("ELF", new String(body, 1, 3, StandardCharsets.US_ASCII));
                elf.put(sm, body);
            } else if (kind == KIND_PTX) {
                ptx.add(sm);
            }
            off += entryHeader + payload;
        }
        assertEquals(Set.of(80, 86, 89, 90), elf.keySet(), "SASS architectures");
        assertEquals(Set.of(90), ptx, "PTX architectures");
        for (Map.Entry<Integer, byte[]> e : elf.entrySet()) {
            String image = new String(e.getValue(), StandardCharsets.ISO_8859_1);
            for (String kernel : signatures.keySet()) {
                assertTrue(image.contains("\0" + kernel + "\0"), "kernel " + kernel + " missing from sm_" + e.getKey());
            }
        }
    }

    /** The text of every src/main/cuda/*.cu file, one after another. */
    private static String cudaSources() throws IOException {
        Path dir = Path.of("src/main/cuda");
        Assumptions.assumeTrue(Files.isDirectory(dir), "run from the repository root");
        StringBuilder all = new StringBuilder();
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".cu"))::iterator) {
                all.append(Files.readString(p));
            }
        }
        return all.toString();
    }

    /** The names declared {@code NN_KERNEL void [__launch_bounds__(...)] NAME(} in src/main/cuda/*.cu. */
    private static Set<String> kernelsInSource() throws IOException {
        Set<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("NN_KERNEL\\s+void\\s+(?:__launch_bounds__\\([^)]*\\)\\s+)?(\\w+)\\s*\\(")
                .matcher(cudaSources());
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    @Test
    void everyKernelHasAVersionedStrategyComment() throws Exception {
        String all = cudaSources();
        Map<String, List<String>> signatures = CudaDevice.readSignatures();
        Assumptions.assumeFalse(signatures.isEmpty(), "the build had no nvcc, so no kernel list");
        for (String kernel : signatures.keySet()) {
            assertTrue(all.matches("(?s).*// " + kernel + " v\\d+: .*"),
                    "kernel " + kernel + " has no '// " + kernel + " vN: strategy' comment");
        }
    }
}
