"""Build cconv's Cython extensions.

* cconv._cpu: CPU detection and OpenMP facts, compiled for baseline x86-64 only.
* Kernel modules (pyx/_direct.pyx, ...): compiled once per instruction set, as
  cconv.<module>_<isa>: baseline (no extra flags), avx2 (-mavx2 -mfma) and avx512 (the x86-64-v4
  set); on other architectures only baseline. cconv._dispatch imports the best variant the CPU
  supports at run time, so one wheel runs on every x86-64 CPU. Never -march=native.
* OpenMP: the compiler is asked to compile, link and run a small OpenMP program; if it cannot,
  or CCONV_NO_OPENMP=1, the same sources are built serial (python -m cconv info says so).
* No -ffast-math: it breaks NaN/Inf semantics and, linked into a shared library, can switch the
  whole process to flush-to-zero. FMA contraction is enabled explicitly instead.
"""
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_MODULES = ["_direct", "_depthwise", "_winograd", "_peak"]

IS_X86_64 = platform.machine().lower() in ("x86_64", "amd64", "x64")
ISA_FLAGS = {"baseline": []}
if IS_X86_64:
    ISA_FLAGS["avx2"] = ["-mavx2", "-mfma"]
    ISA_FLAGS["avx512"] = ["-mavx2", "-mfma", "-mavx512f", "-mavx512cd", "-mavx512bw",
                           "-mavx512dq", "-mavx512vl"]
# CCONV_BUILD_SIMD=baseline,avx2 builds only those variants (a shorter build for checks that
# do not need the others; a wheel for users builds them all).
if os.environ.get("CCONV_BUILD_SIMD"):
    _wanted = {v.strip() for v in os.environ["CCONV_BUILD_SIMD"].split(",")} | {"baseline"}
    ISA_FLAGS = {k: v for k, v in ISA_FLAGS.items() if k in _wanted}

COMMON_FLAGS = ["-O3", "-g0", "-ffp-contract=fast", "-fno-math-errno", "-Wno-unused-function"]
# GCC turns short copy/zero loops into memmove/memset calls, whose call overhead dominates for
# the runs of at most NR values the kernels copy; kept only where the compiler knows the flag.
OPTIONAL_FLAGS = ["-fno-tree-loop-distribute-patterns"]

OPENMP_TEST = textwrap.dedent("""
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n > 0);
        return n > 0 ? 0 : 1;
    }
""")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "nonecheck": False,
    "cdivision": True,
}


def _openmp_flags(compiler):
    """OpenMP compile/link flags that work with this compiler, or None (serial build)."""
    if os.environ.get("CCONV_NO_OPENMP", "") not in ("", "0"):
        print("cconv: CCONV_NO_OPENMP set, building without OpenMP")
        return None
    flag = "/openmp" if compiler.compiler_type == "msvc" else "-fopenmp"
    tmp = tempfile.mkdtemp(prefix="cconv_omp_")
    try:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
        exe = os.path.join(tmp, "omp_test")
        # the executable linker does not get LDFLAGS (shared objects do): pass them, so that
        # a build with e.g. sanitizer flags in CFLAGS/LDFLAGS links its test program too
        compiler.link_executable(objs, exe,
                                 extra_postargs=[flag] + os.environ.get("LDFLAGS", "").split())
        out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or out.stdout.strip() != "1":
            raise RuntimeError(out.stdout + out.stderr)
    except Exception as exc:  # any failure means: build serial
        print(f"cconv: the compiler cannot build OpenMP code ({type(exc).__name__}); "
              "building without OpenMP")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return flag


def _supported_flags(compiler, flags):
    """The flags among `flags` that the compiler accepts (compiling an empty function)."""
    ok = []
    tmp = tempfile.mkdtemp(prefix="cconv_flags_")
    try:
        src = os.path.join(tmp, "flag_test.c")
        with open(src, "w") as f:
            f.write("int cconv_flag_test(void) { return 0; }\n")
        for flag in flags:
            try:
                compiler.compile([src], output_dir=tmp, extra_postargs=[flag, "-Werror"])
                ok.append(flag)
            except Exception:
                pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ok


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:   # 16 modules of generated C: use every core
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        omp = _openmp_flags(self.compiler)
        extra = _supported_flags(self.compiler, OPTIONAL_FLAGS)
        for ext in self.extensions:
            ext.extra_compile_args.extend(extra)
            if omp:
                ext.extra_compile_args.append(omp)
                ext.extra_link_args.append(omp)
        super().build_extensions()


def _newest_source_mtime():
    """When the project's Cython and C sources last changed (pyx/ and pyx/include/)."""
    return max(os.path.getmtime(os.path.join(folder, name))
               for folder in ("pyx", os.path.join("pyx", "include"))
               for name in os.listdir(folder))


def _cythonize(exts, build_dir):
    """cythonize(exts) into build_dir, except that an extension whose generated C file there is
    newer than every source of the project is built from that file as it is. (pip builds in
    an isolated environment with a freshly installed Cython, whose own .pxd files are then
    newer than the C files: `pip install ".[test]"` after `pip install .` regenerated and
    recompiled all 16 modules, minutes on 2 cores, for nothing.)"""
    newest = _newest_source_mtime()
    todo = []
    for ext in exts:
        c_file = os.path.join(build_dir, os.path.splitext(ext.sources[0])[0] + ".c")
        if os.path.exists(c_file) and os.path.getmtime(c_file) >= newest:
            ext.sources = [c_file]
        else:
            todo.append(ext)
    done = [ext for ext in exts if ext not in todo]
    if todo:
        # nthreads: generating the C of 13 modules took 35 s serial on 2 cores, four
        # times per CI run (every fresh build)
        done += cythonize(todo, build_dir=build_dir, compiler_directives=DIRECTIVES,
                          include_path=["pyx"], nthreads=os.cpu_count() or 1)
    return done


def _extensions():
    include = [os.path.join("pyx", "include"), "pyx"]
    exts = _cythonize(
        [Extension("cconv._cpu", ["pyx/_cpu.pyx"], include_dirs=include,
                   extra_compile_args=list(COMMON_FLAGS))],
        os.path.join("build", "cython", "baseline"))
    for isa, flags in ISA_FLAGS.items():
        # One cythonize call per instruction set: the same .pyx becomes a differently named
        # module, and build_dir keeps the generated C files apart.
        exts += _cythonize(
            [Extension(f"cconv.{mod}_{isa}", [f"pyx/{mod}.pyx"], include_dirs=include,
                       extra_compile_args=COMMON_FLAGS + flags)
             for mod in KERNEL_MODULES],
            os.path.join("build", "cython", isa))
    return exts


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
