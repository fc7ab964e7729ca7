package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.cpu.Simd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every JVM the project starts for kat4j's kernels gets both JIT options ({@link Simd#JIT_FLAGS}):
 * the launcher, the build's test JVMs, the benchmarks and the tests' child processes. A line that
 * names one of the two options names the other as well, so a new launch cannot carry only one.
 */
class JvmOptionsTest {
    static final String TRAP = "-XX:PerMethodTrapLimit=10000";
    static final String CUTOFF = "-XX:PerMethodRecompilationCutoff=10000";

    @Test
    void theJitOptionsTravelTogether() throws IOException {
        assertEquals(TRAP + " " + CUTOFF, Simd.JIT_FLAGS);
        Path root = LayeringTest.ROOT;
        String launcher = Files.readString(root.resolve("kat"));
        assertTrue(launcher.contains(TRAP + " " + CUTOFF), "the kat launcher starts Java without " + Simd.JIT_FLAGS);
        List<String> alone = new ArrayList<>();
        int lines = 0;
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                String rel = root.relativize(p).toString().replace('\\', '/');
                if (rel.contains("/target/") || rel.startsWith(".") || rel.startsWith("runs/") || rel.startsWith("docs/")
                        || !(rel.endsWith(".java") || rel.endsWith(".sh") || rel.endsWith(".xml") || rel.equals("kat"))
                        || rel.endsWith("JvmOptionsTest.java")) {
                    continue;
                }
                List<String> text = Files.readAllLines(p);
                for (int i = 0; i < text.size(); i++) {
                    String line = text.get(i);
                    boolean trap = line.contains("PerMethodTrapLimit=");
                    boolean cutoff = line.contains("PerMethodRecompilationCutoff=");
                    if (trap || cutoff) {
                        lines++;
                        if (!(line.contains(TRAP) && line.contains(CUTOFF))) {
                            alone.add(rel + ":" + (i + 1));
                        }
                    }
                }
            }
        }
        assertTrue(lines >= 12, "found the options on only " + lines + " lines under " + root);
        assertTrue(alone.isEmpty(), "lines with one JIT option or another value: " + alone);
    }
}
