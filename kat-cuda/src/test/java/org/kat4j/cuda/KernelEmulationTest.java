package org.kat4j.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * kernels.cu's kernels run on the CPU without a GPU: src/test/emu compiles the CUDA source with
 * g++ against a small emulation of CUDA's threads, barriers and warp shuffles (cuda_emu.h) and
 * checks every kernel family against float64 references (kernels_emu_test.cpp). Skipped, with the
 * reason, where there is no g++.
 */
class KernelEmulationTest {
    private static int run(List<String> cmd, Path log) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    @Test
    void everyKernelFamilyMatchesItsReference() throws IOException, InterruptedException {
        Path src = Path.of("src/test/emu/kernels_emu_test.cpp");
        assumeTrue(Files.exists(src), "source tree not available");
        Path dir = Files.createDirectories(Path.of("target/emu"));
        Path exe = dir.resolve("kernels_emu_test");
        Path log = dir.resolve("build.log");
        int built;
        try {
            built = run(List.of("g++", "-std=c++20", "-O1", "-w", "-o", exe.toString(), src.toString()), log);
        } catch (IOException e) {
            assumeTrue(false, "no g++ to build the kernel emulation: " + e.getMessage());
            return;
        }
        assertEquals(0, built, "g++ failed: " + Files.readString(log, StandardCharsets.UTF_8));
        Path out = dir.resolve("run.log");
        int rc = run(List.of(exe.toString()), out);
        String text = Files.readString(out, StandardCharsets.UTF_8);
        assertEquals(0, rc, text);
        assertTrue(text.strip().endsWith("checks passed") && text.contains("all 126 checks"), text);
    }
}
