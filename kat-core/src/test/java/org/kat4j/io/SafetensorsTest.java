package org.kat4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.nn.Linear;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {
    @Test
    void roundTripAndLoadStateDict(@TempDir Path dir) throws IOException {
        Linear a = new Linear("fc", 3, 4, true, new Random(1));
        Path f = dir.resolve("m.safetensors");
        Safetensors.write(f, a.namedParameters(), Map.of("epoch", "3", "note", "q\"uote"));
        assertFalse(Files.exists(dir.resolve("m.safetensors.tmp")));
        Safetensors.Contents c = Safetensors.read(f);
        assertEquals(Map.of("epoch", "3", "note", "q\"uote"), c.metadata());
        assertEquals(c.metadata(), Safetensors.readMetadata(f), "the header alone gives the same metadata");
        assertArrayEquals(a.weight.toFloatArray(), c.tensors().get("weight").toFloatArray(), 0f);
        Linear b = new Linear("fc", 3, 4, true, new Random(2));
        b.loadStateDict(c.tensors(), true);
        assertArrayEquals(a.weight.toFloatArray(), b.weight.toFloatArray(), 0f);
        // the header is 8-byte aligned JSON, data little-endian F32
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong();
        assertEquals(0, n % 8);
        String header = new String(Files.readAllBytes(f), 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.contains("\"weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}"), header);
    }

    @Test
    void float64TensorsStayFloat64(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("d.safetensors");
        Tensor d = Tensor.of(new double[]{Math.PI, -1e-300, 1e300}, 3);
        Safetensors.write(f, Map.of("d", d, "f", Tensor.of(new float[]{1.5f}, 1)), null);
        Safetensors.Contents c = Safetensors.read(f);
        assertEquals(DType.FLOAT64, c.tensors().get("d").dtype());
        assertArrayEquals(d.toDoubleArray(), c.tensors().get("d").toDoubleArray(), 0.0);
        assertEquals(DType.FLOAT32, c.tensors().get("f").dtype());
    }

    @Test
    void strictLoadReportsEveryProblemAtOnce() {
        Linear a = new Linear("fc", 3, 4, true, new Random(1));
        Map<String, Tensor> bad = new LinkedHashMap<>();
        bad.put("weight", Tensor.zeros(DType.FLOAT32, 4, 2));
        bad.put("extra", Tensor.zeros(DType.FLOAT32, 1));
        var e = assertThrows(IllegalArgumentException.class, () -> a.loadStateDict(bad, true));
        assertTrue(e.getMessage().contains("missing bias") && e.getMessage().contains("unexpected extra")
                && e.getMessage().contains("[4, 2]"), e.getMessage());
    }

    @Test
    void truncatedAndLyingFilesAreRefused(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("m.safetensors");
        Safetensors.write(f, Map.of("w", Tensor.ones(DType.FLOAT32, 10)), null);
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 4));
        var e = assertThrows(IOException.class, () -> Safetensors.read(f));
        assertTrue(e.getMessage().contains("offsets"), e.getMessage());
        e = assertThrows(IOException.class, () -> Safetensors.readMetadata(f));
        assertTrue(e.getMessage().contains("offsets"), "the metadata of a truncated file is refused as well: " + e.getMessage());
        byte[] lie = all.clone();
        lie[0] = (byte) 0xff;
        lie[1] = (byte) 0xff;
        Files.write(f, lie);
        e = assertThrows(IOException.class, () -> Safetensors.read(f));
        assertTrue(e.getMessage().contains("header length"), e.getMessage());
        Files.write(f, new byte[3]);
        assertThrows(IOException.class, () -> Safetensors.read(f));
    }
}
