package org.kat4j.inspect;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.rational.RationalInit;
import org.kat4j.tensor.Tensor;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ActivationsTest {
    static final Map<String, Object> TINY = Map.of("depth", 2, "embed_dim", 16, "num_heads", 2);

    /** The state of a tiny KAT whose rationals are set to named tables, one table per group. */
    static Map<String, Tensor> withTables(List<RationalInit> tables) {
        VisionTransformer m = Models.create("kat_micro_patch7_28", TINY, 1);
        Map<String, Tensor> s = new LinkedHashMap<>(m.stateDict());
        for (int block = 0; block < 2; block++) {
            for (String act : new String[]{"act1", "act2"}) {
                // one numerator is shared: give every group of a rational the same table
                RationalInit t = tables.get((2 * block + (act.equals("act1") ? 0 : 1)) % tables.size());
                String p = "blocks." + block + ".mlp." + act + ".";
                s.put(p + "weight_numerator", Tensor.of(t.numerator(), 1, 6));
                double[] den = new double[8 * 4];
                for (int g = 0; g < 8; g++) {
                    System.arraycopy(t.denominator(), 0, den, 4 * g, 4);
                }
                s.put(p + "weight_denominator", Tensor.of(den, 8, 4));
            }
        }
        return s;
    }

    @Test
    void knownTablesAreNamedAtAboutZeroDistance() {
        for (List<RationalInit> set : List.of(List.of(RationalInit.IDENTITY, RationalInit.SWISH, RationalInit.GELU, RationalInit.TANH),
                List.of(RationalInit.SIGMOID, RationalInit.RELU, RationalInit.LEAKY_RELU, RationalInit.SWISH))) {
            Activations a = Activations.of(withTables(set), RationalInit.IDENTITY, RationalInit.SWISH, "test");
            assertEquals(2 * 2 * 8, a.groups().size());
            for (Activations.Group g : a.groups()) {
                RationalInit expected = set.get((2 * g.block() + (g.act().equals("act1") ? 0 : 1)) % set.size());
                assertEquals(expected, g.closest(), g.block() + "." + g.act() + " group " + g.group() + ": distance " + g.distance());
                assertTrue(g.distance() < 0.02, expected + " at distance " + g.distance());
            }
        }
        Activations swish = Activations.of(withTables(List.of(RationalInit.SWISH)), RationalInit.IDENTITY, RationalInit.SWISH, "t");
        // 1 / E[F(x)^2] of the swish rational is 2.81076 (Gauss-Hermite, 200 nodes)
        assertEquals(2.81076, 1 / swish.groups().get(0).secondMoment(), 1e-5);
        assertTrue(swish.groups().stream().noneMatch(Activations.Group::largeDenominator));
    }

    @Test
    void writesAWellFormedCsvAndPng(@TempDir Path dir) throws IOException {
        Activations a = Activations.of(withTables(List.of(RationalInit.GELU)), RationalInit.IDENTITY, RationalInit.SWISH, "t");
        a.writeCsv(dir.resolve("a.csv"));
        a.writePng(dir.resolve("a.png"), "tiny");
        List<String> rows = Files.readAllLines(dir.resolve("a.csv"));
        assertEquals(1 + 32, rows.size());
        int cols = rows.get(0).split(",").length;
        assertEquals(21, cols);
        rows.forEach(r -> assertEquals(cols, r.split(",").length, r));
        assertTrue(rows.get(1).startsWith("0,act1,0,"), rows.get(1));
        assertTrue(rows.get(1).contains(",gelu,"), rows.get(1));
        BufferedImage img = ImageIO.read(dir.resolve("a.png").toFile());
        assertEquals(16 * 170, img.getWidth(), "16 groups across (8 of act1, 8 of act2)");
        assertEquals(30 + 2 * 130, img.getHeight(), "one row per block");
    }

    /** The input ranges are the extremes of exactly what each group's channels received. */
    @Test
    void inputRangesAreWhatEachGroupSaw(@TempDir Path dir) throws IOException {
        VisionTransformer m = Models.create("kat_micro_patch7_28", Map.of(), 2);
        Tensor images = Tensor.randn(new java.util.Random(4), org.kat4j.tensor.DType.FLOAT32, 30, 1, 28, 28);
        Activations a = Activations.of(m.stateDict(), RationalInit.IDENTITY, RationalInit.SWISH, "m")
                .withInputRanges(m, images, 8);
        // block 0's act1 sees norm2(h + attn(norm1(h))) of the embedded tokens h
        float[] in;
        try (var ng = org.kat4j.autograd.Autograd.noGrad()) {
            m.train(false);
            var b0 = m.blocks[0];
            Tensor tokens = m.patchEmbed.forward(images);
            Tensor cls = m.clsToken.add(Tensor.zeros(org.kat4j.tensor.DType.FLOAT32, 30, 1, 64));
            Tensor h = org.kat4j.autograd.Ops.concat(1, cls, tokens).add(m.posEmbed);
            in = b0.norm2.forward(h.add(b0.attn.forward(b0.norm1.forward(h)))).toFloatArray();
        }
        for (int g = 0; g < 8; g++) {
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < in.length; i++) {
                if ((i % 64) / 8 == g) {
                    lo = Math.min(lo, in[i]);
                    hi = Math.max(hi, in[i]);
                }
            }
            assertEquals(0, a.groups().get(g).block());
            assertEquals("act1", a.groups().get(g).act());
            assertArrayEquals(new double[]{lo, hi}, a.inputRange(g), 1e-6, "block 0 act1 group " + g);
        }
        for (int i = 0; i < a.groups().size(); i++) {
            double[] r = a.inputRange(i);
            assertTrue(r != null && Double.isFinite(r[0]) && r[0] < r[1], i + ": " + java.util.Arrays.toString(r));
        }
        assertTrue(a.inputRange(0)[1] != a.inputRange(9)[1], "groups are told apart");
        // observers are gone afterwards: a second run over other images gives only its own ranges
        Activations again = Activations.of(m.stateDict(), RationalInit.IDENTITY, RationalInit.SWISH, "m")
                .withInputRanges(m, images.narrow(0, 0, 3), 3);
        assertTrue(again.inputRange(0)[1] <= a.inputRange(0)[1]);
        a.writeCsv(dir.resolve("r.csv"));
        List<String> rows = Files.readAllLines(dir.resolve("r.csv"));
        assertTrue(rows.get(0).contains(",input_min,input_max,"));
        String[] first = rows.get(1).split(",");
        assertEquals(a.inputRange(0)[0], Double.parseDouble(first[9]), 1e-5 * Math.abs(a.inputRange(0)[0]));
        a.writePng(dir.resolve("r.png"), "ranges");
        assertTrue(Files.size(dir.resolve("r.png")) > 0);
        assertTrue(Activations.of(m.stateDict(), RationalInit.IDENTITY, RationalInit.SWISH, "m").inputRange(0) == null);
    }

    @Test
    void aVitHasNothingToInspect() {
        VisionTransformer vit = Models.create("vit_micro_patch7_28", Map.of(), 1);
        var e = assertThrows(IllegalArgumentException.class,
                () -> Activations.of(vit.stateDict(), RationalInit.IDENTITY, RationalInit.SWISH, "vit.safetensors"));
        assertTrue(e.getMessage().startsWith("vit.safetensors has no GR-KAN layers"), e.getMessage());
    }
}
