# The one place that declares the OpenMP runtime calls used by cconv.
#
# When the extension is compiled without OpenMP (a compiler without it, or CCONV_NO_OPENMP=1),
# _OPENMP is undefined and serial stubs stand in, so every module compiles unchanged and runs on
# one thread. Cython guards its own prange pragmas already. Same pattern as
# sklearn/utils/_openmp_helpers.pxd.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CCONV_OPENMP_VERSION _OPENMP
    /* Release this thread's pool of OpenMP workers (OpenMP 5.0, libgomp since GCC 9, LLVM
       libomp since 8): called before fork(), so that the child does not inherit a pool whose
       threads it does not have (libgomp hangs in such a child). Weak: an older runtime
       without it makes this report failure (-1) instead of failing to load. */
    #if _OPENMP >= 201811 || (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9)
    #pragma weak omp_pause_resource_all
    static inline int cconv_omp_pause(void)
    {
        return &omp_pause_resource_all ? omp_pause_resource_all(omp_pause_hard) : -1;
    }
    #else
    static inline int cconv_omp_pause(void) { return -1; }
    #endif
    #else
    #define CCONV_OPENMP_VERSION 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_thread_num(void) { return 0; }
    static inline void omp_set_num_threads(int n) { (void)n; }
    static inline int cconv_omp_pause(void) { return 0; }
    #endif
    """
    const int CCONV_OPENMP_VERSION
    int cconv_omp_pause() noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    void omp_set_num_threads(int n) noexcept nogil
