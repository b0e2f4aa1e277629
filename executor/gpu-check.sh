#!/usr/bin/env bash
# GPU check for an executor node: what this machine has for a GPU path, how fast it embeds, and how far
# its outputs are from ONNX Runtime fp32 on the CPU (the verifier's reference) for the same inputs.
#
#   executor/gpu-check.sh             probe, then run (prepares the class path first if Maven can)
#   executor/gpu-check.sh --prepare   only gather the class path into executor/target/gpu-check/ (needs ./mvnw
#                                     and the Maven repository; offline)
#
# For a GPU machine that reaches nothing: run --prepare on a build machine, then carry the repository tree with
# executor/target (classes, test-classes, gpu-check/) to it; there the script needs only a JDK 17 and bash.
# For ONNX Runtime's CUDA provider, put com.microsoft.onnxruntime:onnxruntime_gpu (the same version as the
# onnxruntime jar in gpu-check/lib) into executor/target/gpu-check/ort-gpu/: it replaces the CPU-only jar.
# Options through the environment: SENTENCES (default 1024), JAVA (default java).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/target/gpu-check"
JAVA="${JAVA:-java}"

prepare() {
    echo "== preparing the class path (offline Maven build of executor and its modules)"
    (cd "$root" && ./mvnw -o -q -pl executor -am test-compile dependency:build-classpath \
        -Dmdep.includeScope=test -Dmdep.outputFile=target/gpu-check.classpath)
    rm -rf "$out" && mkdir -p "$out/lib"
    local i=0
    tr ':' '\n' < "$here/target/gpu-check.classpath" | while read -r entry; do
        [ -z "$entry" ] && continue
        if [ -d "$entry" ]; then # a module of this build (target/classes)
            i=$((i + 1)); mkdir -p "$out/lib/dir$i" && cp -r "$entry/." "$out/lib/dir$i/"
        else
            cp "$entry" "$out/lib/"
        fi
    done
    mkdir -p "$out/lib/executor-classes" "$out/lib/executor-test-classes"
    cp -r "$here/target/classes/." "$out/lib/executor-classes/"
    cp -r "$here/target/test-classes/." "$out/lib/executor-test-classes/"
    echo "   $(ls "$out/lib" | wc -l) entries in $out/lib"
}

if [ "${1:-}" = "--prepare" ]; then
    prepare
    exit 0
fi

echo "== probe"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/   GPU: /'
else
    echo "   nvidia-smi: not found or no GPU visible"
fi
ldcache="$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) || true)"
for lib in libnvinfer libcudart libcudnn; do
    found="$(printf '%s\n' "$ldcache" | grep -o "$lib\.so[^ ]*" | sort -u | tr '\n' ' ' || true)"
    echo "   $lib: ${found:-MISSING}"
done

if [ ! -d "$out/lib" ]; then
    if [ -x "$root/mvnw" ] && [ -d "${HOME}/.m2/repository" ]; then
        prepare
    else
        echo "no class path in $out/lib and no Maven here: run 'executor/gpu-check.sh --prepare' on a build machine and carry executor/target" >&2
        exit 2
    fi
fi

cp_entries=()
ort_gpu="$(ls "$out"/ort-gpu/onnxruntime_gpu-*.jar 2>/dev/null | head -1 || true)"
for entry in "$out"/lib/*; do
    base="$(basename "$entry")"
    if [ -n "$ort_gpu" ] && [[ "$base" == onnxruntime-[0-9]*.jar ]]; then
        continue # replaced by the GPU build
    fi
    cp_entries+=("$entry")
done
[ -n "$ort_gpu" ] && cp_entries+=("$ort_gpu") && echo "   ONNX Runtime: GPU build $(basename "$ort_gpu")" \
    || echo "   ONNX Runtime: CPU-only build (no onnxruntime_gpu jar in $out/ort-gpu/)"
classpath="$(IFS=:; echo "${cp_entries[*]}")"

echo "== run (${SENTENCES:-1024} sentences; batches 32, 128, 512)"
cd "$here"
exec "$JAVA" -Xmx4g -Djava.io.tmpdir="$here/target" -Dgpucheck.sentences="${SENTENCES:-1024}" \
    -Dgpucheck.home="$here/target/gpu-check-home" -Dquarkus.log.level=INFO \
    -cp "$classpath" io.inferex.executor.gpu.GpuCheck
