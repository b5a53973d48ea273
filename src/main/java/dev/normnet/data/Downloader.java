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
 */
public final class Downloader {
    /** The largest file accepted from a server, compressed and decompressed. */
    static final long MAX_BYTES = 256L << 20;
    private static final int CONNECT_TIMEOUT_MS = 15_000;
    private static final int READ_TIMEOUT_MS = 60_000;

    private final PrintStream log;

    /** @param log where one line per downloaded file is printed; null for silence */
    public Downloader(PrintStream log) {
        this.log = log;
    }

    /** Downloads the files of {@code ds} missing from {@code dir} from {@code base} (ends with '/'). */
    public void download(IdxDataset ds, String base, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new DataException(dir + ": cannot create the directory (" + e + ")", e);
        }
        for (IdxDataset.RemoteFile f : ds.files()) {
            if (IdxDataset.locate(dir, f.baseName()) != null) {
                continue;
            }
            fetch(base + f.name(), f, dir.resolve(f.name()));
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

    private static void transfer(String url, Path tmp, MessageDigest md5, MessageDigest sha256) {
        URLConnection conn;
        try {
            URL u = URI.create(url).toURL();
            conn = u.openConnection();
        } catch (IOException | IllegalArgumentException e) {
            throw new DataException(url + ": bad URL (" + e.getMessage() + ")", e);
        }
        conn.setConnectTimeout(CONNECT_TIMEOUT_MS);
        conn.setReadTimeout(READ_TIMEOUT_MS);
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
                }
            }
        } catch (IOException e) {
            throw new DataException(url + ": download failed (" + e + ")", e);
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
