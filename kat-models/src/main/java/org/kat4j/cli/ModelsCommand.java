package org.kat4j.cli;

import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code kat models [glob]}: the registry with parameter counts. */
@Command(name = "models", description = "List registered models (optionally matching a glob like 'kat_*') with parameter counts.")
final class ModelsCommand implements Callable<Integer> {
    @Parameters(arity = "0..1", description = "Glob, e.g. kat_*")
    String glob;

    @Override
    public Integer call() {
        List<String> names = Models.list(glob);
        if (names.isEmpty()) {
            throw new IllegalArgumentException("no registered model matches '" + glob + "'; kat models lists them all");
        }
        for (String name : names) {
            VisionTransformer m = Models.create(name, Map.of());
            var c = m.config();
            System.out.printf("%-24s %,12d params  %dx%d, patch %d, dim %d, depth %d, heads %d, %s%n", name, m.parameterCount(),
                    c.imgSize(), c.imgSize(), c.patchSize(), c.embedDim(), c.depth(), c.numHeads(), c.blockKind());
        }
        return 0;
    }
}
