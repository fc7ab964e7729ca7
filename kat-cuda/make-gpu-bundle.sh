#!/usr/bin/env bash
# Prepares kat-cuda/target/gpu-bundle for a GPU machine that may have no JDK and no package
# registry: a small Java runtime made with jlink, the jars the GPU code needs (kat-cuda, kat-core
# and its test jar without ND4J, JCuda, JavaCPP's CUDA presets for cuBLAS, SLF4J, the JUnit console
# launcher), the compiled tests (with the plain-Java host backend that stands in for ND4J, whose
# native library alone is larger than the bundle may be) and kat-bench's jar (GpuBench; its other
# classes are never loaded there). Carry that folder with the working tree and
# run kat-cuda/gpu-check.sh there. Needs built kat-cuda, kat-models (with test classes) and kat-bench (mvn install).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/target/gpu-bundle"
junit_console=1.14.1
rm -rf "$out"
mkdir -p "$out/lib"
cd "$root"
mvn -q -B -pl kat-cuda dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/deps" \
    -DexcludeGroupIds=org.nd4j,org.apache.commons,com.google.flatbuffers,org.json,net.ericaro,com.jakewharton.byteunits,commons-io,commons-net,org.apache.commons.math3,com.google.protobuf,org.nd4j.shade
# only what the GPU path loads: kat-core's kernel interface and CPU reference are pure Java
for j in "$out"/deps/*.jar; do
    case "$(basename "$j")" in
        kat-core-*|jcuda-*|slf4j-api-*|cuda-*|javacpp-*) cp "$j" "$out/lib/" ;;
    esac
done
rm -rf "$out/deps"
cp "$here"/target/kat-cuda-*.jar "$out/lib/"
cp "$root"/kat-core/target/kat-core-*-tests.jar "$out/lib/"
cp "$root"/kat-bench/target/kat-bench-*.jar "$out/lib/"
# kat-models' model classes for the training-step test, without its data sets and ONNX classes
python3 - "$root"/kat-models/target/kat-models-*[0-9T].jar "$out/lib/kat-models-slim.jar" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        if item.filename.startswith(("org/kat4j/models/", "META-INF/MANIFEST")):
            dst.writestr(item, src.read(item))
PY
gson_version=$(sed -n 's:.*<gson.version>\(.*\)</gson.version>.*:\1:p' "$root/pom.xml")
mvn -q -B dependency:copy -Dartifact=com.google.code.gson:gson:$gson_version -DoutputDirectory="$out/lib"
mvn -q -B dependency:copy -Dartifact=org.slf4j:slf4j-simple:2.0.17 -DoutputDirectory="$out/lib"
mvn -q -B dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_console \
    -DoutputDirectory="$out/lib"
cp -r "$here/target/test-classes" "$out/test-classes"
# the CPU emulation of the kernels is for machines without a GPU: not registered there
sed -i "/EmuGpu/d" "$out/test-classes/META-INF/services/org.kat4j.backend.BackendProvider"
mkdir -p "$out/test-classes/org/kat4j/models"
cp "$root"/kat-models/target/test-classes/org/kat4j/models/*TrainingStep*.class "$out/test-classes/org/kat4j/models/"
jlink --add-modules java.base,java.logging,java.xml,java.management,jdk.management,jdk.unsupported \
      --strip-debug --no-header-files --no-man-pages --compress=2 --output "$out/jre"
du -sh "$out" "$out"/jre "$out"/lib
