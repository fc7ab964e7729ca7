package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NativeSettingsTest {
    @Test
    void unsetCoreTypeLeavesTheChoiceToOpenBlas() {
        assertEquals("OpenBLAS picks its kernels for this CPU (OPENBLAS_CORETYPE unset)", NativeSettings.openblasKernels(null, true));
        assertEquals("OpenBLAS picks its kernels for this CPU (OPENBLAS_CORETYPE unset)", NativeSettings.openblasKernels(" ", false));
    }

    @Test
    void anOlderCoreOnAnAvx512CpuIsPointedOut() {
        String s = NativeSettings.openblasKernels("Haswell", true);
        assertTrue(s.startsWith("OpenBLAS runs its Haswell kernels, without AVX-512, on this AVX-512 CPU (OPENBLAS_CORETYPE=Haswell)"), s);
        assertTrue(s.contains("unset"), s);
    }

    @Test
    void whereKat4jsKernelTakesTheProductsTheLineSaysSo() {
        Blas.Library before = Blas.library();
        try {
            Blas.use(Blas.Library.OPENBLAS);
            assertTrue(NativeSettings.openblasKernels().startsWith("OpenBLAS "), NativeSettings.openblasKernels());
            Blas.use(Blas.Library.AUTO);
            String s = NativeSettings.openblasKernels();
            assertEquals(Blas.ownKernel(), s.startsWith("float32 products on kat4j's own kernel, not OpenBLAS"), s);
        } finally {
            Blas.use(before);
        }
    }

    @Test
    void aMatchingCoreIsOnlyNamed() {
        assertEquals("OpenBLAS runs its Haswell kernels (OPENBLAS_CORETYPE=Haswell)", NativeSettings.openblasKernels("Haswell", false));
        assertEquals("OpenBLAS runs its SKYLAKEX kernels (OPENBLAS_CORETYPE=SKYLAKEX)", NativeSettings.openblasKernels("SKYLAKEX", true));
        assertEquals("OpenBLAS runs its Cooperlake kernels (OPENBLAS_CORETYPE=Cooperlake)", NativeSettings.openblasKernels("Cooperlake", true));
    }

    @Test
    void theCpuFlagsAreRead() {
        // this test machine's answer, whichever it is, must agree with /proc/cpuinfo
        boolean listed;
        try {
            listed = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/cpuinfo")).contains(" avx512f");
        } catch (java.io.IOException e) {
            listed = false;
        }
        assertEquals(listed, NativeSettings.cpuHasAvx512());
    }
}
