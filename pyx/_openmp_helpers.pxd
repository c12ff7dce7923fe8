# The one place that declares the OpenMP runtime calls used by cconv, and the one check every
# parallel region's workers make on where they run (leave_caller_cpu).
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

    /* A worker that finds itself on the CPU of the thread that started the parallel region
       moves to another allowed CPU (its affinity set without that CPU, then restored: a
       migration, the caller's settings unchanged). Seen on a 2-vCPU VM: the scheduler woke
       the worker on the caller's CPU and left it there with the other CPU idle; the two then
       took turns, each spinning through its time slice at the barrier while the other
       waited (a 60 us 2-thread call took 0.9 ms, 50 calls in a row; schedstat: both threads
       ~55 slices and ~18 ms on the run queue, the other CPU idle). Linux only; elsewhere,
       and when the calls fail, nothing happens. */
    #if defined(__linux__) && defined(_GNU_SOURCE)
    #include <sched.h>
    static inline int cconv_current_cpu(void) { return sched_getcpu(); }
    static inline void cconv_leave_cpu(int cpu)
    {
        cpu_set_t allowed, others;
        if (cpu < 0 || sched_getcpu() != cpu) return;
        if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
        others = allowed;
        CPU_CLR(cpu, &others);
        if (CPU_COUNT(&others) == 0) return;
        if (sched_setaffinity(0, sizeof others, &others) != 0) return;
        sched_setaffinity(0, sizeof allowed, &allowed);
    }
    #else
    static inline int cconv_current_cpu(void) { return -1; }
    static inline void cconv_leave_cpu(int cpu) { (void)cpu; }
    #endif
    """
    const int CCONV_OPENMP_VERSION
    int cconv_current_cpu() noexcept nogil
    void cconv_leave_cpu(int cpu) noexcept nogil
    int cconv_omp_pause() noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    void omp_set_num_threads(int n) noexcept nogil


cdef inline void leave_caller_cpu(int caller_cpu) noexcept nogil:
    """Inside a parallel region: a worker (not the thread that started the region) that runs
    on the caller's CPU (caller_cpu, read with cconv_current_cpu() before the region) moves to
    another one (cconv_leave_cpu)."""
    if omp_get_thread_num() > 0:
        cconv_leave_cpu(caller_cpu)
