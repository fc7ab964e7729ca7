package org.kat4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hostile input: every malformed file is refused with a SafetensorsException that says what is wrong. */
class SafetensorsMalformedTest {
    @TempDir
    Path dir;

    static byte[] file(long headerLen, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(header).put(data);
        return b.array();
    }

    static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return file(h.length, h, new byte[dataBytes]);
    }

    void refused(String label, byte[] content, String expected) throws IOException {
        Path f = dir.resolve(label + ".safetensors");
        Files.write(f, content);
        var e = assertThrows(SafetensorsException.class, () -> Safetensors.read(f), label);
        assertTrue(e.getMessage().contains(f.toString()), label + ": " + e.getMessage());
        assertTrue(e.getMessage().contains(expected), label + ": expected '" + expected + "' in: " + e.getMessage());
    }

    @Test
    void malformedFilesAreRefusedWithClearErrors() throws IOException {
        String ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        Map<String, Object[]> cases = new LinkedHashMap<>();
        cases.put("empty", new Object[]{new byte[0], "too short"});
        cases.put("seven-bytes", new Object[]{new byte[7], "too short"});
        cases.put("header-longer-than-file", new Object[]{file(1000, ok.getBytes(StandardCharsets.UTF_8), new byte[8]), "header length 1000"});
        cases.put("header-length-zero", new Object[]{file(0, new byte[0], new byte[8]), "header length 0"});
        cases.put("huge-header-claim", new Object[]{file(1L << 62, new byte[8], new byte[0]), "header length"});
        cases.put("bad-utf8", new Object[]{file(6, new byte[]{'{', '"', (byte) 0xC3, (byte) 0x28, '"', '}'}, new byte[0]), "UTF-8"});
        cases.put("not-json", new Object[]{file("not json at all", 0), "well-formed JSON"});
        cases.put("json-array", new Object[]{file("[1,2,3]", 0), "well-formed JSON"});
        cases.put("trailing-garbage", new Object[]{file(ok + "}}", 8), "JSON"});
        cases.put("unknown-dtype", new Object[]{file(ok.replace("F32", "F8"), 8), "unknown dtype F8"});
        cases.put("missing-offsets", new Object[]{file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "lacks dtype, shape or data_offsets"});
        cases.put("negative-shape", new Object[]{file(ok.replace("[2]", "[-2]"), 8), "negative shape"});
        cases.put("offsets-past-end", new Object[]{file(ok.replace("[0,8]", "[0,16]"), 8), "outside the data section"});
        cases.put("begin-after-end", new Object[]{file(ok.replace("[0,8]", "[8,0]"), 8), "outside the data section"});
        cases.put("size-mismatch", new Object[]{file(ok.replace("[2]", "[3]"), 8), "needs 12"});
        cases.put("overlap", new Object[]{file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlaps"});
        cases.put("gap", new Object[]{file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "belong to no tensor"});
        cases.put("uncovered-tail", new Object[]{file(ok, 12), "tensors cover 8"});
        cases.put("duplicate-name", new Object[]{file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "appears twice"});
        cases.put("metadata-not-string", new Object[]{file("{\"__metadata__\":{\"epoch\":3}," + ok.substring(1), 8), "not a string"});
        cases.put("three-offsets", new Object[]{file(ok.replace("[0,8]", "[0,4,8]"), 8), "expected 2"});
        cases.put("shape-overflow", new Object[]{file(ok.replace("[2]", "[4294967296,4294967296,4294967296]"), 8), "overflows"});
        cases.put("truncated-data", new Object[]{file(ok, 5), "outside the data section"});
        for (var c : cases.entrySet()) {
            refused(c.getKey(), (byte[]) c.getValue()[0], (String) c.getValue()[1]);
        }
        assertTrue(cases.size() >= 20);
    }

    @Test
    void everyDtypeLoads() throws IOException {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                + "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                + "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[12,14]},"
                + "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[14,22]},"
                + "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[22,26]},"
                + "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[26,28]},"
                + "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[28,29]},"
                + "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[29,30]},"
                + "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[30,32]},"
                + "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[32,32]}}";
        ByteBuffer d = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        d.putDouble(-2.5).putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x3F80).putLong(-7L)
                .putInt(123456).putShort((short) -300).put((byte) -5).put((byte) 200).put((byte) 1).put((byte) 0);
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path f = dir.resolve("all.safetensors");
        Files.write(f, file(h.length, h, d.array()));
        Safetensors.Contents c = Safetensors.read(f);
        assertEquals("pt", c.metadata().get("format"));
        assertEquals(-2.5, c.tensors().get("f64").item());
        assertArrayEquals(new float[]{1f, -2f}, c.tensors().get("f16").toFloatArray());
        assertEquals(1.0, c.tensors().get("bf16").item());
        assertEquals(-7.0, c.tensors().get("i64").item());
        assertEquals(123456.0, c.tensors().get("i32").item());
        assertEquals(-300.0, c.tensors().get("i16").item());
        assertEquals(-5.0, c.tensors().get("i8").item());
        assertEquals(200.0, c.tensors().get("u8").item());
        assertArrayEquals(new double[]{1, 0}, c.tensors().get("bool").toDoubleArray());
        assertArrayEquals(new long[]{0, 3}, c.tensors().get("empty").shape());
    }

    @Test
    void integerTensorsAreNotWeights(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Path f = dir.resolve("ints.safetensors");
        Files.write(f, file("{\"head.weight\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16));
        Safetensors.Contents c = Safetensors.read(f);
        assertEquals(2, c.tensors().get("head.weight").numel(), "readable as numbers");
        var e = assertThrows(SafetensorsException.class, c::floatTensors);
        assertTrue(e.getMessage().contains("tensor head.weight is I64, expected a float dtype"), e.getMessage());
    }
}
