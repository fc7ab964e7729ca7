package org.kat4j.io;

import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Safetensors files (KAT.md section 6): 8-byte little-endian header length, a JSON header, then
 * the raw little-endian data. This first version writes F32 and reads F32/F64 with the offsets
 * and sizes validated; writes are atomic (temporary file, then rename), so a crash never leaves a
 * half-written file under the final name.
 */
public final class Safetensors {
    private Safetensors() {
    }

    /** Tensors and the header's {@code __metadata__}. */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) {
    }

    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        StringBuilder json = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            json.append("\"__metadata__\":{");
            boolean first = true;
            for (var e : metadata.entrySet()) {
                json.append(first ? "" : ",").append(quote(e.getKey())).append(':').append(quote(e.getValue()));
                first = false;
            }
            json.append("},");
        }
        long offset = 0;
        List<float[]> data = new ArrayList<>();
        boolean first = true;
        for (var e : tensors.entrySet()) {
            float[] v = e.getValue().toFloatArray();
            long end = offset + 4L * v.length;
            json.append(first ? "" : ",").append(quote(e.getKey())).append(":{\"dtype\":\"F32\",\"shape\":[");
            long[] shape = e.getValue().shape();
            for (int i = 0; i < shape.length; i++) {
                json.append(i == 0 ? "" : ",").append(shape[i]);
            }
            json.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
            data.add(v);
            first = false;
        }
        json.append('}');
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (header.length + 7) / 8 * 8; // the format allows trailing spaces; keeps data 8-byte aligned
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(header);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            writeAll(ch, head);
            for (float[] v : data) {
                ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(v);
                writeAll(ch, b);
            }
            ch.force(true);
        }
        Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    private static final Pattern ENTRY = Pattern.compile(
            "\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*\\{\\s*\"dtype\"\\s*:\\s*\"(\\w+)\"\\s*,\\s*\"shape\"\\s*:\\s*\\[([^\\]]*)\\]\\s*,"
                    + "\\s*\"data_offsets\"\\s*:\\s*\\[\\s*(\\d+)\\s*,\\s*(\\d+)\\s*\\]\\s*\\}");
    private static final Pattern META = Pattern.compile("\"__metadata__\"\\s*:\\s*\\{([^}]*)\\}");
    private static final Pattern PAIR = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** Reads a file written by {@link #write} (F32 or F64 entries in the layout above). */
    public static Contents read(Path path) throws IOException {
        long size = Files.size(path);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            if (size < 8) {
                throw new IOException(path + ": " + size + " bytes, too short for a safetensors header");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readAll(ch, lenBuf, 0);
            long n = lenBuf.flip().getLong();
            if (n <= 0 || n > size - 8 || n > (100 << 20)) {
                throw new IOException(path + ": header length " + n + " does not fit a file of " + size + " bytes");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readAll(ch, hb, 8);
            String header = new String(hb.array(), StandardCharsets.UTF_8);
            long dataStart = 8 + n;
            long dataLen = size - dataStart;
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Matcher m = ENTRY.matcher(header);
            while (m.find()) {
                String name = unquote(m.group(1));
                String dtype = m.group(2);
                String dims = m.group(3).trim();
                long[] shape = dims.isEmpty() ? new long[0]
                        : java.util.Arrays.stream(dims.split(",")).mapToLong(s -> Long.parseLong(s.trim())).toArray();
                long begin = Long.parseLong(m.group(4));
                long end = Long.parseLong(m.group(5));
                int width = switch (dtype) {
                    case "F32" -> 4;
                    case "F64" -> 8;
                    default -> throw new IOException(path + ": tensor " + name + " has dtype " + dtype + ", this reader takes F32/F64");
                };
                long count = Tensor.numel(shape);
                if (begin > end || end > dataLen || end - begin != count * width) {
                    throw new IOException(path + ": tensor " + name + " offsets [" + begin + ", " + end + ") do not hold "
                            + count + " x " + dtype + " inside a data section of " + dataLen + " bytes");
                }
                if (tensors.containsKey(name)) {
                    throw new IOException(path + ": tensor " + name + " appears twice");
                }
                ByteBuffer b = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
                readAll(ch, b, dataStart + begin);
                b.flip();
                if (width == 4) {
                    float[] v = new float[(int) count];
                    b.asFloatBuffer().get(v);
                    tensors.put(name, Tensor.of(v, shape));
                } else {
                    double[] v = new double[(int) count];
                    b.asDoubleBuffer().get(v);
                    tensors.put(name, Tensor.of(v, shape));
                }
            }
            Map<String, String> meta = new LinkedHashMap<>();
            Matcher mm = META.matcher(header);
            if (mm.find()) {
                Matcher p = PAIR.matcher(mm.group(1));
                while (p.find()) {
                    meta.put(unquote(p.group(1)), unquote(p.group(2)));
                }
            }
            return new Contents(tensors, meta);
        }
    }

    private static void readAll(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos + b.position());
            if (r < 0) {
                throw new IOException("unexpected end of file at byte " + (pos + b.position()));
            }
        }
    }

    private static String unquote(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                switch (n) {
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                        i += 4;
                    }
                    default -> b.append(n);
                }
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
