package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.kat4j.cli.Kat;
import org.kat4j.rational.RationalKernels;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Across modules: kat-models' CLI trains a GR-KAN block through kat-core, with kat-cuda on the class path. */
class SmokeEndToEndTest {
    @Test
    void smokeJobTrainsAndTheLossFalls() {
        int rc = new CommandLine(new Kat()).execute("smoke", "--steps", "12", "--batch", "2", "--dim", "64");
        assertEquals(0, rc, "kat smoke exits 0 only when the loss fell");
    }

    @Test
    void kernelSelectionReportsEveryProvider() {
        assertFalse(RationalKernels.report().isEmpty());
        assertTrue(RationalKernels.report().stream().anyMatch(l -> l.contains("CudaKernelProvider")),
                "kat-cuda's provider is found through ServiceLoader: " + RationalKernels.report());
    }

    @Test
    void badFlagsGiveAOneLineErrorAndNonZeroExit() {
        StringWriter err = new StringWriter();
        CommandLine cl = Kat.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("smoke", "--steps", "zero");
        assertEquals(2, rc);
        assertEquals(List.of("kat: Invalid value for option '--steps': 'zero' is not an int", "(kat smoke --help lists the options)"),
                err.toString().lines().toList(), "no usage text after the error");
        StringWriter typo = new StringWriter();
        cl = Kat.commandLine();
        cl.setErr(new PrintWriter(typo));
        assertEquals(2, cl.execute("train", "--epoch", "3"));
        assertTrue(typo.toString().startsWith("kat: Unknown option") && typo.toString().contains("'--epoch'"), typo.toString());
        assertTrue(typo.toString().contains("--epochs"), "the option meant is suggested: " + typo);
    }

    @Test
    void everySubcommandAnswersHelpAndVersion() {
        for (String sub : new String[]{"train", "eval", "compare", "predict", "models", "info", "smoke"}) {
            StringWriter out = new StringWriter();
            CommandLine cl = new CommandLine(new Kat());
            cl.setOut(new PrintWriter(out));
            assertEquals(0, cl.execute(sub, "--help"), sub + " --help");
            assertTrue(out.toString().contains("Usage: kat " + sub), sub + ": " + out);
            StringWriter ver = new StringWriter();
            CommandLine cv = new CommandLine(new Kat());
            cv.setOut(new PrintWriter(ver));
            assertEquals(0, cv.execute(sub, "-V"), sub + " -V");
            assertTrue(ver.toString().contains("kat4j"), sub + " -V: " + ver);
        }
    }
}
