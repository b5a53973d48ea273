package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataDiscoveryTest {
    @TempDir
    Path tmp;

    private HttpServer server;
    private final Map<String, byte[]> served = new ConcurrentHashMap<>();
    private final AtomicInteger requests = new AtomicInteger();

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.stop(0);
        }
    }

    /** Serves {@link #served} on 127.0.0.1 (404 for other paths); returns the base URL. */
    private String startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            requests.incrementAndGet();
            String path = exchange.getRequestURI().getPath();
            byte[] body = path.startsWith("/files/") ? served.get(path.substring("/files/".length())) : null;
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
            exchange.close();
        });
        server.start();
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/files/";
    }

    private DataDiscovery discovery(Map<String, String> env, Path cwd, Path systemDir, String baseUrl) {
        Map<String, Path> system = new HashMap<>();
        system.put("fashion-mnist", systemDir);
        system.put("mnist", systemDir);
        return new DataDiscovery(env, cwd, system, baseUrl, null);
    }

    private static String[] listing(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return new String[0];
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toArray(String[]::new);
        }
    }

    // ------------------------------------------------------------------ order

    @Test
    void explicitDirWinsAndNeverFallsBack() {
        Path cwd = tmp.resolve("cwd");
        Path explicit = tmp.resolve("explicit");
        Path env = tmp.resolve("env");
        Path system = tmp.resolve("system");
        IdxFiles.writeDataset(explicit, true);
        IdxFiles.writeDataset(env, true);
        IdxFiles.writeDataset(cwd.resolve("data/FashionMNIST/raw"), false);
        IdxFiles.writeDataset(system, true);
        DataDiscovery d = discovery(Map.of("NORMNET_DATA", env.toString()), cwd, system, null);
        assertEquals(explicit, d.locate("fashion-mnist", explicit));
        // relative --data is relative to the working directory
        IdxFiles.writeDataset(cwd.resolve("mine"), false);
        assertEquals(cwd.resolve("mine"), d.locate("fashion-mnist", Path.of("mine")));

        Path partial = tmp.resolve("partial");
        IdxFiles.writeDataset(partial, false);
        try {
            Files.delete(partial.resolve("train-labels-idx1-ubyte"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        DataException e = assertThrows(DataException.class, () -> d.locate("fashion-mnist", partial));
        assertTrue(e.getMessage().startsWith("--data " + partial + ": no fashion-mnist data in any of the three layouts:"
                + " IDX files (missing train-labels-idx1-ubyte[.gz]; "), e.getMessage());
        DataException e2 = assertThrows(DataException.class, () -> d.locate("fashion-mnist", tmp.resolve("absent")));
        assertEquals("--data " + tmp.resolve("absent") + ": no such directory", e2.getMessage());
    }

    @Test
    void environmentBeforeWorkingDirBeforeSystem() {
        Path cwd = tmp.resolve("cwd");
        Path env = tmp.resolve("env");
        Path system = tmp.resolve("system");
        IdxFiles.writeDataset(system, true);
        DataDiscovery noEnv = discovery(Map.of(), cwd, system, null);
        assertEquals(system, noEnv.locate("fashion-mnist", null));

        Path local = cwd.resolve("data/FashionMNIST/raw");
        IdxFiles.writeDataset(local, false);
        assertEquals(local.toAbsolutePath(), noEnv.locate("fashion-mnist", null));

        IdxFiles.writeDataset(env, true);
        DataDiscovery withEnv = discovery(Map.of("NORMNET_DATA", env.toString()), cwd, system, null);
        assertEquals(env, withEnv.locate("fashion-mnist", null));

        // $NORMNET_DATA may also be a torchvision root (FashionMNIST/raw under it)
        Path root = tmp.resolve("root");
        IdxFiles.writeDataset(root.resolve("FashionMNIST/raw"), true);
        DataDiscovery withRoot = discovery(Map.of("NORMNET_DATA", root.toString()), cwd, system, null);
        assertEquals(root.resolve("FashionMNIST/raw"), withRoot.locate("fashion-mnist", null));

        // an $NORMNET_DATA without the files falls through to ./data
        DataDiscovery emptyEnv = discovery(Map.of("NORMNET_DATA", tmp.resolve("nothing").toString()), cwd, system, null);
        assertEquals(local.toAbsolutePath(), emptyEnv.locate("fashion-mnist", null));
    }

    @Test
    void mnistUsesItsOwnFolder() {
        Path cwd = tmp.resolve("cwd");
        IdxFiles.writeDataset(cwd.resolve("data/FashionMNIST/raw"), false);
        IdxFiles.writeDataset(cwd.resolve("data/MNIST/raw"), true);
        DataDiscovery d = discovery(Map.of(), cwd, null, null);
        assertEquals(cwd.resolve("data/MNIST/raw").toAbsolutePath(), d.locate("mnist", null));
        assertEquals(cwd.resolve("data/FashionMNIST/raw").toAbsolutePath(), d.locate("fashion-mnist", null));
        assertThrows(IllegalArgumentException.class, () -> d.locate("cifar10", null));
    }

    @Test
    void defaultSystemDirIsDebians() {
        assertEquals(Path.of("/usr/share/datasets/fashion-mnist"), FashionMnist.DATASET.systemDir());
        assertEquals(FashionMnist.DATASET, DataDiscovery.dataset("Fashion-MNIST"));
        assertEquals(Mnist.DATASET, DataDiscovery.dataset("mnist"));
    }

    // ------------------------------------------------------------------ download

    /** A data set whose files are small generated IDX files with digests computed here. */
    private IdxDataset smallDataset(Map<String, byte[]> gzFiles) throws Exception {
        byte[][] raw = {
            IdxFiles.images(12, 4, 4, 1), IdxFiles.labels(12, 10), IdxFiles.images(5, 4, 4, 2), IdxFiles.labels(5, 10)};
        String[] names = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
        List<IdxDataset.RemoteFile> files = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            byte[] gz = IdxFiles.gzip(raw[i]);
            gzFiles.put(names[i], gz);
            files.add(new IdxDataset.RemoteFile(names[i], hex("MD5", gz), hex("SHA-256", gz), hex("SHA-256", raw[i])));
        }
        return new IdxDataset("tiny", "Tiny", FashionMnist.CLASS_NAMES, 4, null,
                "apt-get install dataset-tiny", "http://never.invalid/", files);
    }

    private static String hex(String algorithm, byte[] data) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(data));
    }

    @Test
    void downloadsWhenNothingHasIt() throws Exception {
        Map<String, byte[]> files = new HashMap<>();
        IdxDataset ds = smallDataset(files);
        served.putAll(files);
        String base = startServer();
        Path cwd = tmp.resolve("cwd");
        // the base URL comes from the (injected) environment
        DataDiscovery d = new DataDiscovery(Map.of(DataDiscovery.BASE_URL_ENV, base), cwd, Map.of(), null, null);
        Path dir = d.locate(ds, null);
        assertEquals(cwd.resolve("data/Tiny/raw").toAbsolutePath(), dir);
        assertArrayEquals(new String[] {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}, listing(dir));
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            assertArrayEquals(f.getValue(), Files.readAllBytes(dir.resolve(f.getKey())), f.getKey());
        }
        DatasetSplits s = ds.load(dir);
        assertEquals(12, s.train().count());
        assertEquals(4, requests.get());
        // found locally the second time: no more requests
        assertEquals(dir, d.locate(ds, null));
        assertEquals(4, requests.get());
    }

    @Test
    void keepsFilesAlreadySavedAndFetchesOnlyTheMissing() throws Exception {
        Map<String, byte[]> files = new HashMap<>();
        IdxDataset ds = smallDataset(files);
        served.putAll(files);
        String base = startServer();
        Path cwd = tmp.resolve("cwd");
        Path dir = cwd.resolve("data/Tiny/raw");
        // an uncompressed copy saved earlier (as torchvision extracts it) must be kept as it is
        byte[] saved = IdxFiles.labels(12, 10);
        IdxFiles.write(dir.resolve("train-labels-idx1-ubyte"), saved);
        DataDiscovery d = new DataDiscovery(Map.of(), cwd, Map.of(), base, null);
        d.locate(ds, null);
        assertEquals(3, requests.get());
        assertArrayEquals(saved, Files.readAllBytes(dir.resolve("train-labels-idx1-ubyte")));
        assertFalse(Files.exists(dir.resolve("train-labels-idx1-ubyte.gz")));
    }

    @Test
    void digestMismatchIsRejectedAndLeavesNothing() throws Exception {
        Map<String, byte[]> files = new HashMap<>();
        IdxDataset ds = smallDataset(files);
        served.putAll(files);
        // a different (valid) image file where the pinned one should be
        served.put("t10k-images-idx3-ubyte.gz", IdxFiles.gzip(IdxFiles.images(5, 4, 4, 3)));
        String base = startServer();
        Path cwd = tmp.resolve("cwd");
        DataDiscovery d = new DataDiscovery(Map.of(), cwd, Map.of(), base, null);
        DataException e = assertThrows(DataException.class, () -> d.locate(ds, null));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.contains(base + "t10k-images-idx3-ubyte.gz: MD5 mismatch: expected " + ds.files().get(2).md5()), m);
        assertTrue(m.contains("the file was not saved"), m);
        assertTrue(m.contains("apt-get install dataset-tiny"), m);
        assertTrue(m.contains("--data DIR"), m);
        Path dir = cwd.resolve("data/Tiny/raw");
        // the two files fetched before the bad one are kept, the bad one and its temporary file are gone
        assertArrayEquals(new String[] {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}, listing(dir));
    }

    @Test
    void contentDigestIsCheckedToo() throws Exception {
        Map<String, byte[]> files = new HashMap<>();
        IdxDataset ds0 = smallDataset(files);
        served.putAll(files);
        String base = startServer();
        // only a content digest pinned, and it is wrong for the served labels
        List<IdxDataset.RemoteFile> pinned = new ArrayList<>(ds0.files());
        IdxDataset.RemoteFile f = pinned.get(1);
        pinned.set(1, new IdxDataset.RemoteFile(f.name(), null, null, hex("SHA-256", IdxFiles.labels(11, 10))));
        IdxDataset ds = new IdxDataset("tiny", "Tiny", ds0.classNames(), 4, null, null, base, pinned);
        Path dir = tmp.resolve("out");
        DataException e = assertThrows(DataException.class, () -> new Downloader(null).download(ds, base, dir));
        assertTrue(e.getMessage().contains("train-labels-idx1-ubyte.gz: SHA-256 of the decompressed data mismatch"), e.getMessage());
        assertArrayEquals(new String[] {"train-images-idx3-ubyte.gz"}, listing(dir));
    }

    @Test
    void serverErrorSaysWhereItLookedAndHowToGetIt() throws Exception {
        String base = startServer(); // serves nothing: 404
        Path cwd = tmp.resolve("cwd");
        Path env = tmp.resolve("env");
        DataDiscovery d = discovery(Map.of("NORMNET_DATA", env.toString(), DataDiscovery.BASE_URL_ENV, base),
                cwd, tmp.resolve("no-system"), null);
        DataException e = assertThrows(DataException.class, () -> d.locate("fashion-mnist", null));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.startsWith("fashion-mnist not found (looked in " + env + ", "), m);
        assertTrue(m.contains(cwd.resolve("data/FashionMNIST/raw").toAbsolutePath().toString()), m);
        assertTrue(m.contains(tmp.resolve("no-system").toString()), m);
        assertTrue(m.contains(base + "train-images-idx3-ubyte.gz: HTTP 404"), m);
        assertTrue(m.contains("apt-get install dataset-fashion-mnist"), m);
        assertTrue(m.contains("--data DIR"), m);
        assertEquals(0, listing(cwd.resolve("data/FashionMNIST/raw")).length);
    }

    @Test
    void unreachableServerIsAnError() throws Exception {
        String base = startServer();
        server.stop(0);
        server = null;
        Path cwd = tmp.resolve("cwd");
        DataDiscovery d = discovery(Map.of(), cwd, null, base);
        DataException e = assertThrows(DataException.class, () -> d.locate("mnist", null));
        assertTrue(e.getMessage().startsWith("mnist not found (looked in $NORMNET_DATA (not set), "), e.getMessage());
        assertTrue(e.getMessage().contains("download failed"), e.getMessage());
        assertEquals(0, listing(cwd.resolve("data/MNIST/raw")).length);
    }

    /**
     * Serves the official Fashion-MNIST .gz files, rebuilt from Debian's copies by putting back the
     * original gzip header (Debian's keeps the deflate stream but drops the file name and resets
     * mtime), and downloads them with the real pinned digests.
     */
    @Test
    void realPinnedDigestsAcceptTheOfficialFiles() throws Exception {
        assumeTrue(FashionMnistTest.debianPresent(), "Fashion-MNIST not installed at " + FashionMnistTest.DEBIAN);
        for (IdxDataset.RemoteFile f : FashionMnist.DATASET.files()) {
            byte[] debian = Files.readAllBytes(FashionMnistTest.DEBIAN.resolve(f.name()));
            int mtime = f.name().startsWith("train") ? 1504176606 : 1504176627;
            byte[] name = (f.baseName() + "\0").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            ByteBuffer b = ByteBuffer.allocate(debian.length + name.length);
            b.put(new byte[] {0x1f, (byte) 0x8b, 8, 8});
            b.order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(mtime);
            b.put(new byte[] {0, 3}).put(name).put(debian, 10, debian.length - 10);
            served.put(f.name(), b.array());
        }
        String base = startServer();
        Path cwd = tmp.resolve("cwd");
        DataDiscovery d = discovery(Map.of(), cwd, null, base);
        Path dir = d.locate("fashion-mnist", null);
        DatasetSplits s = FashionMnist.load(dir);
        assertEquals(60000, s.train().count());
        assertEquals(10000, s.test().count());
        assertEquals(26421880L, Files.size(dir.resolve("train-images-idx3-ubyte.gz")));
    }

    @Test
    void downloadLocationOverrides() {
        IdxDataset ds = FashionMnist.DATASET;
        Path cwd = tmp.resolve("cwd");
        assertEquals(ds.downloadBase(), new DataDiscovery(Map.of(), cwd, Map.of(), null, null).downloadBase(ds));
        assertEquals("http://127.0.0.1:1/env/", new DataDiscovery(Map.of(DataDiscovery.BASE_URL_ENV, "http://127.0.0.1:1/env"),
                cwd, Map.of(), null, null).downloadBase(ds));
        assertEquals("http://127.0.0.1:1/arg/", new DataDiscovery(Map.of(DataDiscovery.BASE_URL_ENV, "http://127.0.0.1:1/env"),
                cwd, Map.of(), "http://127.0.0.1:1/arg/", null).downloadBase(ds));
        String before = System.getProperty(DataDiscovery.BASE_URL_PROPERTY);
        try {
            System.setProperty(DataDiscovery.BASE_URL_PROPERTY, "http://127.0.0.1:1/property/");
            assertEquals("http://127.0.0.1:1/property/", DataDiscovery.system().downloadBase(ds));
        } finally {
            if (before == null) {
                System.clearProperty(DataDiscovery.BASE_URL_PROPERTY);
            } else {
                System.setProperty(DataDiscovery.BASE_URL_PROPERTY, before);
            }
        }
    }
}
