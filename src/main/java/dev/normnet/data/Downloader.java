package dev.normnet.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Downloads a data set's four files into a directory, each checked against its pinned digests
 * ({@link IdxDataset.RemoteFile}) before it is kept. A file is written to a temporary file in the
 * target directory and moved into place only when every digest matches, so a failed or rejected
 * download leaves nothing behind and never replaces a file that was already there. Files already
 * present (raw or .gz) are kept and not downloaded again.
 *
 * <p>A download that stalls or trickles is abandoned: each file must arrive within
 * {@link Limits#deadlineMillis()} (10 minutes), and after a grace period (30 s) at no less than
 * {@link Limits#minBytesPerSecond()} (16 KiB/s) on average; a single read waits at most a minute.
 * On any failure the temporary {@code .part} file is removed, as are the directories the download
 * created and left empty; {@code .part} files of an earlier download that was killed are removed
 * before the next one starts.
 */
public final class Downloader {
    /** The largest file accepted from a server, compressed and decompressed. */
    static final long MAX_BYTES = 256L << 20;
    private static final int CONNECT_TIMEOUT_MS = 15_000;
    private static final int READ_TIMEOUT_MS = 60_000;

    /**
     * How long a download may take.
     *
     * @param deadlineMillis     the most one file may take, from the request to its last byte
     * @param graceMillis        how long a slow start is tolerated before the rate is checked
     * @param minBytesPerSecond  the average rate a file must keep after the grace period
     */
    public record Limits(long deadlineMillis, long graceMillis, long minBytesPerSecond) {
        /** 10 minutes per file; after 30 s at least 16 KiB/s. */
        public static final Limits DEFAULT = new Limits(600_000, 30_000, 16 << 10);
    }

    private final PrintStream log;
    private final Limits limits;

    /** @param log where one line per downloaded file is printed; null for silence */
    public Downloader(PrintStream log) {
        this(log, Limits.DEFAULT);
    }

    /** As {@link #Downloader(PrintStream)}, with other time limits. */
    public Downloader(PrintStream log, Limits limits) {
        this.log = log;
        this.limits = limits;
    }

    /** Downloads the files of {@code ds} missing from {@code dir} from {@code base} (ends with '/'). */
    public void download(IdxDataset ds, String base, Path dir) {
        java.util.List<Path> created = new java.util.ArrayList<>();
        try {
            for (Path p = dir.toAbsolutePath(); p != null && !Files.exists(p); p = p.getParent()) {
                created.add(0, p);
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new DataException(dir + ": cannot create the directory (" + e + ")", e);
        }
        removeStaleParts(dir);
        try {
            for (IdxDataset.RemoteFile f : ds.files()) {
                if (IdxDataset.locate(dir, f.baseName()) != null) {
                    continue;
                }
                fetch(base + f.name(), f, dir.resolve(f.name()));
            }
        } catch (RuntimeException | Error e) {
            for (int i = created.size() - 1; i >= 0; i--) {
                try {
                    Files.delete(created.get(i));   // only when empty: a kept file keeps its directories
                } catch (IOException ignored) {
                    break;
                }
            }
            throw e;
        }
    }

    /** Deletes the {@code .NAME*.part} files a killed download left in {@code dir}. */
    private static void removeStaleParts(Path dir) {
        try (java.nio.file.DirectoryStream<Path> parts = Files.newDirectoryStream(dir,
                p -> p.getFileName().toString().startsWith(".") && p.getFileName().toString().endsWith(".part"))) {
            for (Path p : parts) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // the download itself will say what is wrong with the directory
        }
    }

    /** Downloads one file from {@code url} to {@code target} when its digests match. */
    public void fetch(String url, IdxDataset.RemoteFile expected, Path target) {
        if (log != null) {
            log.println("downloading " + url + " to " + target);
        }
        Path tmp;
        try {
            tmp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".part");
        } catch (IOException e) {
            throw new DataException(target.getParent() + ": cannot create a temporary file (" + e + ")", e);
        }
        boolean kept = false;
        try {
            MessageDigest md5 = digest("MD5");
            MessageDigest sha256 = digest("SHA-256");
            transfer(url, tmp, md5, sha256);
            check(url, "MD5", expected.md5(), md5);
            check(url, "SHA-256", expected.sha256(), sha256);
            if (expected.contentSha256() != null) {
                check(url, "SHA-256 of the decompressed data", expected.contentSha256(), contentDigest(url, tmp));
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            kept = true;
        } catch (IOException e) {
            throw new DataException(url + ": cannot save to " + target + " (" + e + ")", e);
        } finally {
            if (!kept) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the temporary file has a .part name and is never read
                }
            }
        }
    }

    private void transfer(String url, Path tmp, MessageDigest md5, MessageDigest sha256) {
        URLConnection conn;
        try {
            URL u = URI.create(url).toURL();
            conn = u.openConnection();
        } catch (IOException | IllegalArgumentException e) {
            throw new DataException(url + ": bad URL (" + e.getMessage() + ")", e);
        }
        long start = System.nanoTime();
        conn.setConnectTimeout((int) Math.min(CONNECT_TIMEOUT_MS, limits.deadlineMillis()));
        conn.setReadTimeout((int) Math.min(READ_TIMEOUT_MS, limits.deadlineMillis()));
        try {
            if (conn instanceof HttpURLConnection http) {
                http.setInstanceFollowRedirects(true);
                int code = http.getResponseCode();
                if (code != HttpURLConnection.HTTP_OK) {
                    http.disconnect();
                    throw new DataException(url + ": HTTP " + code
                            + (http.getResponseMessage() == null ? "" : " " + http.getResponseMessage()));
                }
            }
            long total = 0;
            byte[] buf = new byte[1 << 16];
            try (InputStream in = conn.getInputStream(); OutputStream out = Files.newOutputStream(tmp)) {
                int r;
                while ((r = in.read(buf)) > 0) {
                    total += r;
                    if (total > MAX_BYTES) {
                        throw new DataException(url + ": more than " + MAX_BYTES + " bytes, not a data set file");
                    }
                    md5.update(buf, 0, r);
                    sha256.update(buf, 0, r);
                    out.write(buf, 0, r);
                    checkPace(url, start, total);
                }
            }
        } catch (IOException e) {
            throw new DataException(url + ": download failed (" + e + ")", e);
        }
    }

    /** Abandons a download past its deadline, or slower than the minimum rate after the grace period. */
    private void checkPace(String url, long startNanos, long bytes) {
        long millis = (System.nanoTime() - startNanos) / 1_000_000;
        if (millis > limits.deadlineMillis()) {
            throw new DataException(url + ": download took longer than " + limits.deadlineMillis() / 1000 + " s ("
                    + bytes + " bytes received); abandoned");
        }
        if (millis > limits.graceMillis() && bytes * 1000 < limits.minBytesPerSecond() * millis) {
            throw new DataException(String.format(java.util.Locale.ROOT,
                    "%s: download too slow (%d bytes in %.1f s, below %d bytes/s); abandoned", url, bytes, millis / 1000.0,
                    limits.minBytesPerSecond()));
        }
    }

    private static MessageDigest contentDigest(String url, Path file) {
        MessageDigest sha = digest("SHA-256");
        try (InputStream in = Idx.open(file)) {
            byte[] buf = new byte[1 << 16];
            long total = 0;
            int r;
            while ((r = in.read(buf)) > 0) {
                total += r;
                if (total > MAX_BYTES) {
                    throw new DataException(url + ": decompresses to more than " + MAX_BYTES + " bytes");
                }
                sha.update(buf, 0, r);
            }
        } catch (IOException e) {
            throw new DataException(url + ": the download is not valid gzip data (" + e.getMessage() + ")", e);
        }
        return sha;
    }

    private static void check(String url, String what, String expected, MessageDigest md) {
        if (expected == null) {
            return;
        }
        String actual = HexFormat.of().formatHex(md.digest());
        if (!actual.equals(expected)) {
            throw new DataException(url + ": " + what + " mismatch: expected " + expected + ", got " + actual
                    + "; the file was not saved");
        }
    }

    private static MessageDigest digest(String algorithm) {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(algorithm + " is not available", e);
        }
    }
}
