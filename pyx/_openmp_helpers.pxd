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
    #else
    #define CCONV_OPENMP_VERSION 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_thread_num(void) { return 0; }
    static inline void omp_set_num_threads(int n) { (void)n; }
    #endif
    """
    const int CCONV_OPENMP_VERSION
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    void omp_set_num_threads(int n) noexcept nogil
