package dev.normnet.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import java.util.zip.ZipException;

/**
 * The decompressed bytes of a gzip file (RFC 1952) of one or more members, read strictly: every
 * member's CRC-32 and length are checked, and its header CRC-16 when it has one, and anything after the last member that is not another
 * member is an error ({@link java.util.zip.GZIPInputStream} stops there silently, so a gzip file
 * followed by junk would read as if whole).
 */
final class StrictGzipInputStream extends InputStream {
    private static final int RESERVED = 0xE0;   // reserved flag bits, which must be zero
    private static final int FHCRC = 2;
    private static final int FEXTRA = 4;
    private static final int FNAME = 8;
    private static final int FCOMMENT = 16;

    private final PushbackInputStream in;
    private final Path file;
    private final Inflater inflater = new Inflater(true);
    private final CRC32 crc = new CRC32();
    /** The CRC-32 of the header bytes read so far; its low 16 bits are the optional header CRC (FHCRC). */
    private final CRC32 headerCrc = new CRC32();
    private final byte[] input = new byte[1 << 16];
    private int inputLength;      // bytes of input last handed to the inflater
    private long memberBytes;
    private boolean done;

    /** {@code in} must be positioned at a gzip header; {@code file} names the file in errors. */
    StrictGzipInputStream(InputStream in, Path file) throws IOException {
        this.in = new PushbackInputStream(in, input.length);
        this.file = file;
        readHeader();
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int r = read(one, 0, 1);
        return r < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        while (!done) {
            int n;
            try {
                n = inflater.inflate(b, off, len);
            } catch (DataFormatException e) {
                throw new ZipException(e.getMessage());
            }
            if (n > 0) {
                crc.update(b, off, n);
                memberBytes += n;
                return n;
            }
            if (inflater.finished()) {
                endOfMember();
            } else if (inflater.needsInput()) {
                int r = in.read(input, 0, input.length);
                if (r < 0) {
                    throw new EOFException("the gzip stream ends inside a member");
                }
                inputLength = r;
                inflater.setInput(input, 0, r);
            } else if (inflater.needsDictionary()) {
                throw new ZipException("a gzip member asks for a preset dictionary");
            }
        }
        return -1;
    }

    /** Checks the member's trailer, then starts the next member or ends the stream; junk is an error. */
    private void endOfMember() throws IOException {
        int remaining = inflater.getRemaining();
        if (remaining > 0) {
            in.unread(input, inputLength - remaining, remaining);   // the trailer and what follows
        }
        long storedCrc = readLittleEndian(4);
        long storedSize = readLittleEndian(4);
        if (storedCrc != crc.getValue()) {
            throw new ZipException("CRC-32 mismatch in a gzip member");
        }
        if (storedSize != (memberBytes & 0xFFFFFFFFL)) {
            throw new ZipException("length mismatch in a gzip member");
        }
        int b1 = in.read();
        if (b1 < 0) {
            done = true;
            return;
        }
        int b2 = in.read();
        if (b1 != 0x1f || b2 != 0x8b) {
            long extra = 1 + (b2 < 0 ? 0 : 1) + skipAll();
            throw new ZipException(extra + " bytes of trailing data after the gzip stream of " + file.getFileName());
        }
        in.unread(new byte[] {(byte) b1, (byte) b2});
        inflater.reset();
        crc.reset();
        memberBytes = 0;
        inputLength = 0;
        readHeader();
    }

    private void readHeader() throws IOException {
        headerCrc.reset();
        int id1 = readByte();
        int id2 = readByte();
        if (id1 != 0x1f || id2 != 0x8b) {
            throw new ZipException("not in gzip format");
        }
        if (readByte() != 8) {
            throw new ZipException("unsupported gzip compression method");
        }
        int flags = readByte();
        if ((flags & RESERVED) != 0) {
            throw new ZipException("reserved gzip header flags are set");
        }
        readLittleEndian(4);                                  // modification time
        readByte();                                           // extra flags
        readByte();                                           // operating system
        if ((flags & FEXTRA) != 0) {
            long length = readLittleEndian(2);
            for (long i = 0; i < length; i++) {
                readByte();
            }
        }
        if ((flags & FNAME) != 0) {
            while (readByte() != 0) {
                // the original file name
            }
        }
        if ((flags & FCOMMENT) != 0) {
            while (readByte() != 0) {
                // a comment
            }
        }
        if ((flags & FHCRC) != 0) {
            long expected = headerCrc.getValue() & 0xFFFF;
            if (readLittleEndian(2) != expected) {
                throw new ZipException("CRC-16 mismatch in a gzip member header");
            }
        }
    }

    private int readByte() throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException("the gzip stream ends inside a header or trailer");
        }
        headerCrc.update(b);
        return b;
    }

    private long readLittleEndian(int bytes) throws IOException {
        long v = 0;
        for (int i = 0; i < bytes; i++) {
            v |= (long) readByte() << (8 * i);
        }
        return v;
    }

    private long skipAll() throws IOException {
        long total = 0;
        byte[] buf = new byte[8192];
        int r;
        while ((r = in.read(buf)) > 0) {
            total += r;
        }
        return total;
    }

    @Override
    public void close() throws IOException {
        inflater.end();
        in.close();
    }
}
