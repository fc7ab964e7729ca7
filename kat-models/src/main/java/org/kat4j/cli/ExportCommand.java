package org.kat4j.cli;

import org.kat4j.onnx.Onnx;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code kat export --onnx FILE}: a trained model as an ONNX file for any ONNX runtime. */
@Command(name = "export", description = "Write a checkpoint or model directory as an ONNX model (opset 17, free batch size).")
final class ExportCommand implements Callable<Integer> {
    @Mixin
    ModelSource source;
    @Option(names = "--onnx", required = true, description = "The ONNX file to write.")
    Path onnx;

    @Override
    public Integer call() throws IOException {
        ModelSource.Loaded l = source.load();
        l.model().train(false);
        Path parent = onnx.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Onnx.export(l.model(), onnx);
        var c = l.model().config();
        System.out.printf(Locale.ROOT, "wrote %s (%,d bytes): %s from %s, input %s [batch, %d, %d, %d] float32, output %s"
                        + " [batch, %d], ONNX opset %d%n", onnx, Files.size(onnx), l.name(), l.source(), Onnx.INPUT, c.inChans(),
                c.imgSize(), c.imgSize(), Onnx.OUTPUT, c.numClasses(), Onnx.OPSET);
        return 0;
    }
}
