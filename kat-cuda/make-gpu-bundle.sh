#!/usr/bin/env bash
# Prepares kat-cuda/target/gpu-bundle.tar.xz for a GPU machine that may have no JDK and no package
# registry: a small Java runtime made with jlink, the jars the GPU code and the kat command line
# need (kat-models with its built-in data set, kat-cuda, kat-core and its test jar without ND4J,
# JCuda's driver binding, JavaCPP's CUDA presets for cuBLAS, picocli, the progress bar, XChart,
# SLF4J, the JUnit console launcher), the compiled tests (with the plain-Java host backend that
# stands in for ND4J, whose native library alone is larger than the bundle may be) and kat-bench's
# jar (GpuBench; its other classes are never loaded there). Carry the .tar.xz (under 64 MiB; the
# folder itself is larger) with the working tree and run kat-cuda/gpu-check.sh there, which
# unpacks it. Needs built kat-cuda, kat-models (with test classes) and kat-bench (mvn install).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/target/gpu-bundle"
junit_console=1.14.1
rm -rf "$out"
mkdir -p "$out/lib"
cd "$root"
mvn -q -B -pl kat-models dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/deps" \
    -DexcludeGroupIds=org.nd4j,org.apache.commons,com.google.flatbuffers,org.json,net.ericaro,com.jakewharton.byteunits,commons-io,commons-net,org.apache.commons.math3,com.google.protobuf,org.nd4j.shade
# only what the GPU path and the command line load: kat-core's kernel interface and CPU reference are pure Java
for j in "$out"/deps/*.jar; do
    case "$(basename "$j")" in
        kat-core-*|cuda-*|javacpp-*|slf4j-*|picocli-*|progressbar-*|jline-*|xchart-*|animated-gif-lib-*|gson-*)
            cp "$j" "$out/lib/" ;;
        jcuda-natives-*)
            # the driver API binding only: the PTX compiler and NVRTC bindings are 25 of its 26 MB
            python3 - "$j" "$out/lib/$(basename "$j")" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        if "NvPTXCompiler" not in item.filename and "Nvrtc" not in item.filename:
            dst.writestr(item, src.read(item))
PY
            ;;
        jcuda-*) cp "$j" "$out/lib/" ;;
    esac
done
rm -rf "$out/deps"
cp "$here"/target/kat-cuda-*[0-9T].jar "$out/lib/"
cp "$root"/kat-core/target/kat-core-*-tests.jar "$out/lib/"
cp "$root"/kat-bench/target/kat-bench-*.jar "$out/lib/"
cp "$root"/kat-models/target/kat-models-*[0-9T].jar "$out/lib/"
mvn -q -B dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_console \
    -DoutputDirectory="$out/lib"
cp -r "$here/target/test-classes" "$out/test-classes"
# the CPU emulation of the kernels is for machines without a GPU: not registered there
sed -i "/EmuGpu/d" "$out/test-classes/META-INF/services/org.kat4j.backend.BackendProvider"
mkdir -p "$out/test-classes/org/kat4j/models"
cp "$root"/kat-models/target/test-classes/org/kat4j/models/*TrainingStep*.class "$out/test-classes/org/kat4j/models/"
# java.desktop: the trainer draws curves.png with XChart (AWT, headless)
jlink --add-modules java.base,java.logging,java.xml,java.management,jdk.management,jdk.unsupported,java.desktop \
      --strip-debug --no-header-files --no-man-pages --compress=2 --output "$out/jre"
tar -C "$here/target" -cJf "$out.tar.xz" gpu-bundle
du -sh "$out" "$out"/jre "$out"/lib "$out.tar.xz"
