package io.inferex.ingest;

import java.io.IOException;
import java.io.InputStream;

/**
 * Splits a byte stream into lines on {@code \n} (a {@code \r} before it is dropped) without ever
 * holding more than {@code maxLineBytes} of a line: a longer line is skipped to its end and
 * reported as {@link #tooLong()}. A final line without a newline is a line; the empty piece after
 * a final newline is not. A UTF-8 byte order mark at the very start is skipped.
 */
final class LineReader implements AutoCloseable {
    private final InputStream in;
    private final byte[] chunk = new byte[64 * 1024];
    private int pos;
    private int lim;
    private boolean eof;

    private final byte[] line;
    private int length;
    private boolean tooLong;
    private int lineNumber;
    private long totalBytes;
    private boolean started;

    LineReader(InputStream in, int maxLineBytes) {
        this.in = in;
        this.line = new byte[maxLineBytes];
    }

    /** Advances to the next line; false at the end of the stream. */
    boolean next() throws IOException {
        length = 0;
        tooLong = false;
        boolean any = false;
        while (true) {
            if (pos == lim) {
                if (eof || !fill()) {
                    if (!any) {
                        return false;
                    }
                    break;
                }
            }
            if (!started) {
                started = true;
                if (lim - pos >= 3 && (chunk[pos] & 0xff) == 0xEF && (chunk[pos + 1] & 0xff) == 0xBB && (chunk[pos + 2] & 0xff) == 0xBF) {
                    pos += 3;
                    continue;
                }
            }
            any = true;
            int start = pos;
            int nl = -1;
            for (int i = pos; i < lim; i++) {
                if (chunk[i] == '\n') {
                    nl = i;
                    break;
                }
            }
            int end = nl < 0 ? lim : nl;
            append(start, end - start);
            pos = nl < 0 ? lim : nl + 1;
            if (nl >= 0) {
                break;
            }
        }
        if (!tooLong && length > 0 && line[length - 1] == '\r') {
            length--;
        }
        lineNumber++;
        return true;
    }

    private void append(int from, int n) {
        long total = (long) length + n;
        if (!tooLong && total <= line.length) {
            System.arraycopy(chunk, from, line, length, n);
            length = (int) total;
        } else {
            // Count the bytes for the error message, keep none of them.
            tooLong = true;
            length = (int) Math.min(Integer.MAX_VALUE, total);
        }
    }

    private boolean fill() throws IOException {
        int n = in.read(chunk, 0, chunk.length);
        if (n <= 0) {
            eof = true;
            return false;
        }
        pos = 0;
        lim = n;
        totalBytes += n;
        return true;
    }

    /** Bytes read from the stream so far (whole chunks). */
    long totalBytes() {
        return totalBytes;
    }

    int lineNumber() {
        return lineNumber;
    }

    /** The line's bytes are {@code buffer()[0..length())}, valid only when not {@link #tooLong()}. */
    byte[] buffer() {
        return line;
    }

    int length() {
        return length;
    }

    boolean tooLong() {
        return tooLong;
    }

    /** Empty or only ASCII whitespace. */
    boolean isBlank() {
        if (tooLong) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            byte b = line[i];
            if (b != ' ' && b != '\t' && b != '\r' && b != '\f') {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
