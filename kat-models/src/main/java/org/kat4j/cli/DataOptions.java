package org.kat4j.cli;

import org.kat4j.data.FashionMnist;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Where the Fashion-MNIST data comes from (shared by train, eval, compare). */
final class DataOptions {
    @Option(names = "--data", description = "Directory with Fashion-MNIST IDX files (train-/t10k-, raw or .gz).")
    Path data;

    @Option(names = "--builtin", description = "Use the built-in subset even if the full set is installed.")
    boolean builtin;

    FashionMnist.Splits load() throws IOException {
        return FashionMnist.load(data, builtin);
    }
}
