package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * kat4j runs on Java 17 or newer. From Java 19 on, jdk.incubator.vector has no ByteBuffer loads
 * and stores, which most vector kernels call on Java 17 and 18; from Java 22 on they reach memory
 * through memory segments instead. Checked with the newest Java 19+ installed beside this one
 * (under the parent of {@code java.home}, e.g. /usr/lib/jvm; skipped where there is none): a
 * training run twice there, with the same weights both times; on Java 22 or later, with every
 * vector kernel on and the same weights as the same run on this JVM; on Java 19 to 21 (and on 22
 * or later with -Dkat4j.segments=false), with the kernels on Java arrays kept, the rest falling
 * back, and a line saying so.
 */
class NewerJavaTest {
    static final Pattern VERSION = Pattern.compile("(?m)^JAVA_VERSION=\"(\\d+)");

    /** A JDK's feature version from its release file, or 0. */
    static int feature(Path home) {
        try {
            Matcher m = VERSION.matcher(Files.readString(home.resolve("release")));
            return m.find() ? Integer.parseInt(m.group(1)) : 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    static Optional<Path> newerJava() throws IOException {
        Path jvms = Path.of(System.getProperty("java.home")).toRealPath().getParent();
        try (Stream<Path> homes = Files.list(jvms)) {
            return homes.filter(h -> feature(h) >= 19 && Files.isExecutable(h.resolve("bin/java")))
                    .max(Comparator.comparingInt(NewerJavaTest::feature));
        }
    }

    @Test
    void trainingOnNewerJavaGivesTheSameWeightsEveryRun(@TempDir Path tmp) throws Exception {
        Optional<Path> home = newerJava();
        assumeTrue(home.isPresent(), "no Java 19 or newer installed beside this JDK");
        boolean segments = feature(home.get()) >= 22;
        String newer = home.get().resolve("bin/java").toString();
        byte[] first = null;
        for (String run : new String[]{"run1", "run2"}) {
            String out = train(newer, tmp.resolve(run));
            if (segments) {
                assertFalse(out.contains("plain-Java CPU kernels"), out);
            } else {
                assertTrue(out.contains("has no ByteBuffer loads and stores") && out.contains("plain-Java CPU kernels are used")
                        && out.contains("except for attention and softmax"), out);
            }
            byte[] weights = tensorBytes(tmp.resolve(run).resolve("last.safetensors"));
            if (first == null) {
                first = weights;
            } else {
                // the same run twice gives the same weights (a JIT-dependent lane sum did not)
                assertArrayEquals(first, weights, "the weights after the second run differ from the first's");
            }
        }
        if (segments) {
            // the same kernels, so the same bits as on this JVM
            train(Path.of(System.getProperty("java.home"), "bin", "java").toString(), tmp.resolve("here"));
            assertArrayEquals(tensorBytes(tmp.resolve("here").resolve("last.safetensors")), first,
                    "the weights on Java " + feature(home.get()) + " differ from this JVM's");
            // without memory segments, as on Java 19 to 21: the array kernels, the rest falling back, said so
            String out = train(newer, tmp.resolve("arrays"), "-Dkat4j.segments=false");
            assertTrue(out.contains("memory segments are off") && out.contains("except for attention and softmax"), out);
            byte[] arrays = tensorBytes(tmp.resolve("arrays").resolve("last.safetensors"));
            train(newer, tmp.resolve("arrays2"), "-Dkat4j.segments=false");
            assertArrayEquals(arrays, tensorBytes(tmp.resolve("arrays2").resolve("last.safetensors")),
                    "two runs without memory segments gave other weights");
        }
    }

    /** Runs FloatBufferKindsTest's training with this java (and these options) into dir; its output. */
    static String train(String java, Path dir, String... options) throws Exception {
        Path log = dir.resolveSibling(dir.getFileName() + ".log");
        List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000",
                "-Xmx512m"));
        command.addAll(List.of(options));
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), FloatBufferKindsTest.class.getName(), dir.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the run finishes");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("epoch 3/3") && out.contains("resumed from"), out);
        return out;
    }

    /** A safetensors file's tensor data: everything after its JSON header (which names the run's directory). */
    static byte[] tensorBytes(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        long header = java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        return java.util.Arrays.copyOfRange(b, Math.toIntExact(8 + header), b.length);
    }
}
