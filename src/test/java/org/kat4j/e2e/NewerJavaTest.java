package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * kat4j runs on Java 17 or newer. From Java 19 on, jdk.incubator.vector has no ByteBuffer loads
 * and stores, which most vector kernels call: there a run with the module added must fall back to
 * the plain-Java kernels for those, keep the ones on Java arrays (attention, softmax), and say so,
 * not fail, and two runs must give the same weights. Checked with the newest Java 19+ installed
 * beside this one (under the parent of {@code java.home}, e.g. /usr/lib/jvm); skipped where there
 * is none.
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
    void trainingOnJava19OrNewerKeepsTheArrayKernelsAndFallsBackForTheRest(@TempDir Path tmp) throws Exception {
        Optional<Path> home = newerJava();
        assumeTrue(home.isPresent(), "no Java 19 or newer installed beside this JDK");
        byte[] first = null;
        for (String run : new String[]{"run1", "run2"}) {
            Path log = tmp.resolve(run + ".log");
            Process p = new ProcessBuilder(home.get().resolve("bin/java").toString(), "--add-modules", "jdk.incubator.vector",
                    "-Xmx512m", "-cp", System.getProperty("java.class.path"), FloatBufferKindsTest.class.getName(),
                    tmp.resolve(run).toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the run finishes");
            String out = Files.readString(log);
            assertEquals(0, p.exitValue(), out);
            assertTrue(out.contains("has no ByteBuffer loads and stores") && out.contains("plain-Java CPU kernels are used")
                    && out.contains("except for attention and softmax"), out);
            assertTrue(out.contains("epoch 3/3") && out.contains("resumed from"), out);
            byte[] weights = tensorBytes(tmp.resolve(run).resolve("last.safetensors"));
            if (first == null) {
                first = weights;
            } else {
                // the same run twice gives the same weights (a JIT-dependent lane sum did not)
                assertArrayEquals(first, weights, "the weights after the second run differ from the first's");
            }
        }
    }

    /** A safetensors file's tensor data: everything after its JSON header (which names the run's directory). */
    static byte[] tensorBytes(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        long header = java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        return java.util.Arrays.copyOfRange(b, Math.toIntExact(8 + header), b.length);
    }
}
