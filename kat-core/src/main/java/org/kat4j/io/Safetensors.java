package org.kat4j.io;

import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Safetensors files (docs/design.md, section 6): 8-byte little-endian header length, a JSON header, then
 * the raw little-endian data. Writes F32 (and F64 for float64 tensors); reads every dtype of the format with the header fully
 * validated. Writes are atomic (temporary file, then rename), so a crash never leaves a
 * half-written file under the final name.
 */
public final class Safetensors {
    private Safetensors() {
    }

    /** Tensors and the header's {@code __metadata__}. */
    public record Contents(Path path, Map<String, Tensor> tensors, Map<String, String> metadata, Map<String, String> dtypes) {
        /**
         * These tensors, refusing any stored with an integer or boolean dtype (weights are floats: an
         * integer tensor under a weight's name is a different file, not a weight).
         */
        public Map<String, Tensor> floatTensors() throws SafetensorsException {
            for (var e : dtypes.entrySet()) {
                if (!FLOATS.contains(e.getValue())) {
                    throw new SafetensorsException(path + ": tensor " + e.getKey() + " is " + e.getValue()
                            + ", expected a float dtype (F32, F16, BF16 or F64) for weights");
                }
            }
            return tensors;
        }
    }

    private static final java.util.Set<String> FLOATS = java.util.Set.of("F32", "F16", "BF16", "F64");

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
        boolean first = true;
        List<Tensor> data = new ArrayList<>();
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            boolean f64 = t.dtype() == org.kat4j.tensor.DType.FLOAT64;
            long end = offset + (f64 ? 8L : 4L) * t.numel();
            json.append(first ? "" : ",").append(quote(e.getKey())).append(":{\"dtype\":\"").append(f64 ? "F64" : "F32")
                    .append("\",\"shape\":[");
            long[] shape = t.shape();
            for (int i = 0; i < shape.length; i++) {
                json.append(i == 0 ? "" : ",").append(shape[i]);
            }
            json.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
            data.add(t);
            first = false;
        }
        json.append('}');
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (header.length + 7) / 8 * 8; // the format allows trailing spaces; keeps data 8-byte aligned
        // written whole or not at all (AtomicFiles): a crash never leaves a half-written checkpoint
        AtomicFiles.write(path, ch -> {
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(header);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            writeAll(ch, head);
            for (Tensor t : data) {
                ByteBuffer b;
                if (t.dtype() == org.kat4j.tensor.DType.FLOAT64) {
                    double[] v = t.toDoubleArray();
                    b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                    for (double x : v) {
                        b.putDouble(x);
                    }
                } else {
                    // element by element, not through asFloatBuffer(): a float view of a heap buffer
                    // is a FloatBuffer class the CPU kernels never see, and loading it makes the JIT
                    // drop every kernel compiled while direct buffers were the only kind
                    float[] v = t.toFloatArray();
                    b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
                    for (float x : v) {
                        b.putFloat(x);
                    }
                }
                b.flip();
                writeAll(ch, b);
            }
        });
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

    /** Bytes per element of each dtype the format defines. */
    static int width(String dtype) {
        return switch (dtype) {
            case "F64", "I64" -> 8;
            case "F32", "I32" -> 4;
            case "F16", "BF16", "I16" -> 2;
            case "I8", "U8", "BOOL" -> 1;
            default -> -1;
        };
    }

    private record Entry(String name, String dtype, long[] shape, long begin, long end) {
    }

    /**
     * Reads every tensor. The header is validated before any data is touched: header length
     * against the file size, well-formed UTF-8 JSON, known dtypes, non-negative shapes, offsets
     * in bounds, sizes equal to shape x dtype width, no overlaps, no gaps, no duplicate names.
     * Each tensor's bytes are memory-mapped, not read into a heap copy of the file. Float types
     * load as float32 (F16/BF16 widened) or float64; integer and bool types load as float64.
     * Problems raise {@link SafetensorsException} naming the file and the tensor.
     */
    public static Contents read(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            Header h = header(path, ch);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Map<String, String> dtypes = new LinkedHashMap<>();
            for (Entry e : h.entries()) {
                tensors.put(e.name(), load(ch, h.dataStart(), e));
                dtypes.put(e.name(), e.dtype());
            }
            return new Contents(path, tensors, h.metadata(), dtypes);
        }
    }

    /**
     * The metadata alone, from a header validated as {@link #read} validates it, without touching
     * the tensors' bytes (a training checkpoint of a large model holds gigabytes of them).
     */
    public static Map<String, String> readMetadata(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return header(path, ch).metadata();
        }
    }

    /** A validated header: its tensors, its metadata, and where the data starts. */
    private record Header(List<Entry> entries, Map<String, String> metadata, long dataStart) {
    }

    private static Header header(Path path, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw new SafetensorsException(path + ": " + size + " bytes, too short for a safetensors header");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readAll(ch, lenBuf, 0);
        long n = lenBuf.flip().getLong();
        if (n <= 1 || n > size - 8) {
            throw new SafetensorsException(path + ": header length " + n + " does not fit a file of " + size + " bytes");
        }
        if (n > (100L << 20)) {
            throw new SafetensorsException(path + ": header length " + n + " exceeds the 100 MB limit");
        }
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        readAll(ch, hb, 8);
        String header;
        try {
            header = StandardCharsets.UTF_8.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT).decode(hb.flip()).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new SafetensorsException(path + ": header is not valid UTF-8", e);
        }
        long dataStart = 8 + n;
        Map<String, String> meta = new LinkedHashMap<>();
        List<Entry> entries = parseHeader(path, header, meta);
        validate(path, entries, size - dataStart);
        return new Header(entries, meta, dataStart);
    }

    private static List<Entry> parseHeader(Path path, String header, Map<String, String> meta) throws SafetensorsException {
        List<Entry> out = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        try (com.google.gson.stream.JsonReader r = new com.google.gson.stream.JsonReader(new java.io.StringReader(header))) {
            r.setLenient(false);
            r.beginObject();
            while (r.hasNext()) {
                String name = r.nextName();
                if (!seen.add(name)) {
                    throw new SafetensorsException(path + ": tensor " + name + " appears twice in the header");
                }
                if (name.equals("__metadata__")) {
                    r.beginObject();
                    while (r.hasNext()) {
                        String k = r.nextName();
                        if (r.peek() != com.google.gson.stream.JsonToken.STRING) {
                            throw new SafetensorsException(path + ": __metadata__ value of " + k + " is not a string");
                        }
                        meta.put(k, r.nextString());
                    }
                    r.endObject();
                    continue;
                }
                String dtype = null;
                long[] shape = null;
                long[] offsets = null;
                r.beginObject();
                while (r.hasNext()) {
                    String field = r.nextName();
                    switch (field) {
                        case "dtype" -> dtype = r.nextString();
                        case "shape" -> shape = longs(r, path, name, "shape");
                        case "data_offsets" -> offsets = longs(r, path, name, "data_offsets");
                        default -> r.skipValue();
                    }
                }
                r.endObject();
                if (dtype == null || shape == null || offsets == null) {
                    throw new SafetensorsException(path + ": tensor " + name + " lacks dtype, shape or data_offsets");
                }
                if (width(dtype) < 0) {
                    throw new SafetensorsException(path + ": tensor " + name + " has unknown dtype " + dtype);
                }
                if (offsets.length != 2) {
                    throw new SafetensorsException(path + ": tensor " + name + " data_offsets has " + offsets.length
                            + " values, expected 2");
                }
                out.add(new Entry(name, dtype, shape, offsets[0], offsets[1]));
            }
            r.endObject();
            if (r.peek() != com.google.gson.stream.JsonToken.END_DOCUMENT) {
                throw new SafetensorsException(path + ": trailing data after the header object");
            }
        } catch (SafetensorsException e) {
            throw e;
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw new SafetensorsException(path + ": header is not well-formed JSON of the safetensors layout ("
                    + e.getMessage() + ")", e);
        }
        return out;
    }

    private static long[] longs(com.google.gson.stream.JsonReader r, Path path, String name, String what) throws IOException {
        List<Long> v = new ArrayList<>();
        r.beginArray();
        while (r.hasNext()) {
            long x = r.nextLong();
            if (x < 0) {
                throw new SafetensorsException(path + ": tensor " + name + " has a negative " + what + " value " + x);
            }
            v.add(x);
        }
        r.endArray();
        return v.stream().mapToLong(Long::longValue).toArray();
    }

    private static void validate(Path path, List<Entry> entries, long dataLen) throws SafetensorsException {
        for (Entry e : entries) {
            long count = 1;
            for (long d : e.shape()) {
                if (d != 0 && count > Long.MAX_VALUE / d) {
                    throw new SafetensorsException(path + ": tensor " + e.name() + " shape overflows");
                }
                count *= d;
            }
            if (e.begin() > e.end() || e.end() > dataLen) {
                throw new SafetensorsException(path + ": tensor " + e.name() + " offsets [" + e.begin() + ", " + e.end()
                        + ") outside the data section of " + dataLen + " bytes");
            }
            if (count > Integer.MAX_VALUE || e.end() - e.begin() != count * width(e.dtype())) {
                throw new SafetensorsException(path + ": tensor " + e.name() + " holds " + (e.end() - e.begin()) + " bytes, but "
                        + java.util.Arrays.toString(e.shape()) + " x " + e.dtype() + " needs " + count * width(e.dtype()));
            }
        }
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(java.util.Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        for (Entry e : sorted) {
            if (e.begin() < at) {
                throw new SafetensorsException(path + ": tensor " + e.name() + " overlaps the tensor before it (starts at "
                        + e.begin() + ", previous ends at " + at + ")");
            }
            if (e.begin() > at) {
                throw new SafetensorsException(path + ": bytes [" + at + ", " + e.begin() + ") before tensor " + e.name()
                        + " belong to no tensor");
            }
            at = e.end();
        }
        if (at != dataLen) {
            throw new SafetensorsException(path + ": data section has " + dataLen + " bytes, tensors cover " + at);
        }
    }

    private static Tensor load(FileChannel ch, long dataStart, Entry e) throws IOException {
        int count = Math.toIntExact(Tensor.numel(e.shape()));
        long bytes = e.end() - e.begin();
        ByteBuffer b = bytes == 0 ? ByteBuffer.allocate(0)
                : ch.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), bytes);
        b.order(ByteOrder.LITTLE_ENDIAN);
        switch (e.dtype()) {
            case "F32" -> {
                float[] v = new float[count];
                for (int i = 0; i < count; i++) {
                    v[i] = b.getFloat(4 * i); // no float view: see write
                }
                return Tensor.of(v, e.shape());
            }
            case "F16", "BF16" -> {
                float[] v = new float[count];
                for (int i = 0; i < count; i++) {
                    short h = b.getShort(2 * i);
                    v[i] = e.dtype().equals("BF16") ? Float16.fromBf16(h) : Float16.fromF16(h);
                }
                return Tensor.of(v, e.shape());
            }
            default -> {
                double[] v = new double[count];
                for (int i = 0; i < count; i++) {
                    v[i] = switch (e.dtype()) {
                        case "F64" -> b.getDouble(8 * i);
                        case "I64" -> b.getLong(8 * i);
                        case "I32" -> b.getInt(4 * i);
                        case "I16" -> b.getShort(2 * i);
                        case "I8" -> b.get(i);
                        case "U8" -> b.get(i) & 0xff;
                        case "BOOL" -> b.get(i) != 0 ? 1 : 0;
                        default -> throw new SafetensorsException("unreachable dtype " + e.dtype());
                    };
                }
                return Tensor.of(v, e.shape());
            }
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
}
