# Scratch memory kept between calls.
#
# A fresh malloc of several MiB is an mmap, and touching it costs page faults on every call
# (measured: 5-10% of a mid-sized layer). Each kernel module keeps its largest recent buffer in
# a ScratchCache of its own. Taken and given back while holding the GIL, which keeps the cache
# consistent across Python threads; calls that overlap in time get their own allocations.
# Bounded: at most one buffer of at most KEEP_BYTES per module.
from libc.stdlib cimport malloc, free

cdef enum:
    KEEP_BYTES = 64 * 1024 * 1024


cdef struct ScratchCache:
    void* buffer
    size_t size


cdef inline void* take_scratch(ScratchCache* cache, size_t nbytes):
    """A buffer of at least nbytes (the kept one if large enough), or NULL. Holds the GIL."""
    cdef void* p
    if cache.buffer != NULL and cache.size >= nbytes:
        p = cache.buffer
        cache.buffer = NULL
        return p
    return malloc(nbytes)


cdef inline void give_scratch(ScratchCache* cache, void* p, size_t nbytes):
    """Return a buffer from take_scratch(cache, nbytes): kept if it is the largest seen
    (within KEEP_BYTES), else freed. Holds the GIL."""
    if p == NULL:
        return
    if nbytes <= KEEP_BYTES and (cache.buffer == NULL or cache.size < nbytes):
        free(cache.buffer)
        cache.buffer = p
        cache.size = nbytes
    else:
        free(p)
