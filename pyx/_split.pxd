# Splitting a 2-D grid of work units into tasks for the threads (shared by the GEMM drivers).
#
# The work is `outer` independent instances (images x groups) of an a_units x b_units grid
# (e.g. pixel panels x output-channel blocks). A task takes a rectangle of at most
# a_per_task x b_per_task units of one instance; the grid is cut into equal parts
# (ceil(units / parts) each), so tasks differ by at most one row or column of units.


cdef struct Split:
    Py_ssize_t a_per_task, b_per_task, a_tasks, b_tasks
    double cost     # its estimated makespan, in the caller's cost units


cdef inline Py_ssize_t split_ceil(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef inline Split balanced_split(Py_ssize_t a_units, Py_ssize_t b_units, Py_ssize_t outer,
                                 int threads, double unit_cost, double a_cost, double task_cost,
                                 double fp_a, double fp_b, double fp_ab, double budget,
                                 double a_last, double b_last) noexcept nogil:
    """The split with the smallest estimated makespan among those whose tasks fit `budget`
    (at least one unit of each, whatever the budget).

    A task of a x b units costs unit_cost*a*b + a_cost*a (a per-a-unit overhead, such as
    gathering its inputs, repeated by every b-task) + task_cost (scheduling, and the cache
    refill when a task starts), and keeps fp_a*a + fp_b*b + fp_ab*a*b bytes hot. The makespan
    of dynamic scheduling on more than one thread is estimated as rounds of the largest task,
    ceil(tasks / threads) of them (the tasks are near equal), or total / threads if larger.
    (The greedy list-scheduling bound, total / threads + the largest task * (threads - 1) /
    threads, charged one large task per thread half again and so chose many small tasks:
    512x512 Winograd on a 7x7 image took 15 tasks, each repeating the input transform, and
    ran no faster on 2 threads than on 1.)

    a_last, b_last (in (0, 1]): the size of the grid's last unit along a and b (a partial
    panel of pixels, a partial block of channels), in the work of the task that holds it: a
    960 -> 160 1x1 layer on 7x7 split its two pixel panels (32 and 17 pixels) over 2 threads
    as if they were equal (0.80x of its 1-thread time).
    """
    cdef Split best_split
    cdef Py_ssize_t na, nb, a, b, tasks
    cdef double best = -1, cost, total, a_work, b_work
    # the grid's work in whole units, and a task's largest extent along each side: whole
    # units where the side is cut, else the side itself with its partial unit
    cdef double a_all = a_units - 1 + a_last, b_all = b_units - 1 + b_last
    best_split.a_per_task, best_split.b_per_task = a_units, b_units
    # each distinct task size once: na jumps to the fewest tasks of the next smaller size
    # (O(sqrt(units)) shapes: a 112x112 image has 1046 twelve-pixel tiles, and trying every
    # count took ~10 us per call)
    na = 1
    while na <= a_units:
        a = split_ceil(a_units, na)
        na = split_ceil(a_units, a - 1) if a > 1 else a_units + 1
        if a > 1 and fp_a * a + fp_b + fp_ab * a > budget:
            continue
        nb = 1
        while nb <= b_units:
            b = split_ceil(b_units, nb)
            nb = split_ceil(b_units, b - 1) if b > 1 else b_units + 1
            if b > 1 and fp_a * a + fp_b * b + fp_ab * a * b > budget:
                continue
            tasks = outer * split_ceil(a_units, a) * split_ceil(b_units, b)
            total = (outer * (unit_cost * a_all * b_all
                              + a_cost * a_all * split_ceil(b_units, b))
                     + task_cost * tasks)
            a_work = a if a < a_units else a_all
            b_work = b if b < b_units else b_all
            if threads == 1:
                cost = total
            else:
                cost = max(total / threads, split_ceil(tasks, threads)
                           * (unit_cost * a_work * b_work + a_cost * a_work + task_cost))
            if best < 0 or cost < best * 0.999:
                best, best_split.a_per_task, best_split.b_per_task = cost, a, b
    best_split.cost = best
    best_split.a_tasks = split_ceil(a_units, best_split.a_per_task)
    best_split.b_tasks = split_ceil(b_units, best_split.b_per_task)
    return best_split
