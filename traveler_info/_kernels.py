"""Shortest-path kernels: A* with landmarks (ALT) on a CSR graph.

Written in the subset of Python that numba compiles; when numba is missing (or
``TLIVE_NO_NUMBA`` style tests ask for it via :data:`PY_KERNELS`) the very same
functions run as plain Python, so the compiled and the interpreted versions are
one source.

ALT (Goldberg & Harrelson 2005): for landmarks L with exact distances d(L, v)
and d(v, L), the triangle inequality gives the lower bound

    h(v) = max_L max( d(L, t) - d(L, v),  d(v, L) - d(t, L) )  <=  d(v, t)

which is a consistent A* potential. The landmark distances are computed on
free-flow times; live times are never below free flow (see
:func:`traveler_info.weights.link_travel_time_s`), and route alternatives only
raise weights, so the bounds stay valid without being recomputed when the live
weights change: a refresh costs no preprocessing.

References
----------
Goldberg, A. V., Harrelson, C. (2005). Computing the shortest path: A* search
meets graph theory. SODA 2005, 156-165.
"""

from __future__ import annotations

import numpy as np

from hub.jit import HAVE_NUMBA, njit  # noqa: F401  (HAVE_NUMBA: for callers)


@njit(cache=True, nogil=True)
def _heap_push(hk, hv, size, key, val):
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        tk = hk[p]
        hk[p] = hk[i]
        hk[i] = tk
        tv = hv[p]
        hv[p] = hv[i]
        hv[i] = tv
        i = p
    return size + 1


@njit(cache=True, nogil=True)
def _heap_pop(hk, hv, size):
    """Remove the root; return the new size (the caller read hk[0], hv[0] first)."""
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and hk[left + 1] < hk[left]:
            c = left + 1
        if hk[i] <= hk[c]:
            break
        tk = hk[c]
        hk[c] = hk[i]
        hk[i] = tk
        tv = hv[c]
        hv[c] = hv[i]
        hv[i] = tv
        i = c
    return size


@njit(cache=True, nogil=True)
def _potential(v, lm_from, lm_to, sel, tf, tt):
    """ALT lower bound of d(v, t) over the landmarks ``sel``; inf when t is unreachable."""
    h = 0.0
    for i in range(sel.shape[0]):
        k = sel[i]
        a = tf[i] - lm_from[v, k]
        if a > h:
            h = a
        b = lm_to[v, k] - tt[i]
        if b > h:
            h = b
    return h


@njit(cache=True, nogil=True)
def _active_landmarks(lm_from, lm_to, s, t, n_active):
    """The ``n_active`` landmarks that give the best bound of d(s, t) (active landmarks)."""
    K = lm_from.shape[1]
    score = np.empty(K)
    for k in range(K):
        a = lm_from[t, k] - lm_from[s, k]
        b = lm_to[s, k] - lm_to[t, k]
        c = a if a > b else b
        score[k] = c if c == c else -np.inf
    order = np.argsort(-score)
    m = n_active if n_active < K else K
    return order[:m].copy()


@njit(cache=True, nogil=True)
def astar(indptr, head, edge, tail, w, lm_from, lm_to, s, t, n_active):
    """A* with landmarks from node ``s`` to node ``t``.

    ``indptr, head, edge`` are the forward CSR (out-links of node u are
    ``edge[indptr[u]:indptr[u+1]]`` towards ``head[...]``), ``tail`` the start
    node of each link, ``w`` the link weights [s] (>= the free-flow times the
    landmarks were computed on), ``lm_from``/``lm_to`` (n_nodes, n_landmarks)
    distances from/to each landmark (zero columns: plain Dijkstra), of which the
    ``n_active`` best for this (s, t) pair are used.

    Returns (cost [s], link indices of the path in order, nodes settled); cost is
    inf and the path empty when ``t`` cannot be reached.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    pred = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    cap = head.shape[0] + 2
    hk = np.empty(cap)
    hv = np.empty(cap, dtype=np.int64)
    sel = _active_landmarks(lm_from, lm_to, s, t, n_active)
    tf = np.empty(sel.shape[0])
    tt = np.empty(sel.shape[0])
    for i in range(sel.shape[0]):
        tf[i] = lm_from[t, sel[i]]
        tt[i] = lm_to[t, sel[i]]
    dist[s] = 0.0
    settled = 0
    size = _heap_push(hk, hv, 0, _potential(s, lm_from, lm_to, sel, tf, tt), s)
    while size > 0:
        u = hv[0]
        size = _heap_pop(hk, hv, size)
        if done[u]:
            continue
        done[u] = True
        settled += 1
        if u == t:
            break
        du = dist[u]
        for j in range(indptr[u], indptr[u + 1]):
            v = head[j]
            if done[v]:
                continue
            e = edge[j]
            nd = du + w[e]
            if nd < dist[v]:
                h = _potential(v, lm_from, lm_to, sel, tf, tt)
                if h == np.inf:
                    continue
                dist[v] = nd
                pred[v] = e
                size = _heap_push(hk, hv, size, nd + h, v)
    if not done[t]:
        return np.inf, np.empty(0, dtype=np.int64), settled
    count = 0
    v = t
    while v != s:
        count += 1
        v = tail[pred[v]]
    path = np.empty(count, dtype=np.int64)
    v = t
    i = count - 1
    while v != s:
        path[i] = pred[v]
        v = tail[pred[v]]
        i -= 1
    return dist[t], path, settled




@njit(cache=True, nogil=True)
def _lower_from_s(v, lm_from, lm_to, sel, sf, st):
    """ALT lower bound of d(s, v) over the landmarks ``sel``; inf when v is unreachable."""
    h = 0.0
    for i in range(sel.shape[0]):
        k = sel[i]
        a = lm_from[v, k] - sf[i]
        if a > h:
            h = a
        b = st[i] - lm_to[v, k]
        if b > h:
            h = b
    return h


@njit(cache=True, nogil=True)
def bidirectional_astar(
    indptr, head, edge, rindptr, rhead, redge, tail, to, w, lm_from, lm_to, s, t, n_active,
    scratch_f, scratch_i, scratch_b, heap_k, heap_v, eps,
):
    """Bidirectional A* with landmarks and average potentials (Ikeda et al. 1994).

    Forward search on the reduced costs of p(v) = (pi_t(v) - pi_s(v)) / 2, backward
    on those of -p(v), both feasible because pi_t and pi_s are consistent ALT bounds;
    it stops when the two smallest keys add up to the best s-t path found (mu).
    ``rindptr, rhead, redge`` are the backward CSR (in-links of each node from
    their tails), ``tail``/``to`` the end nodes of each link; the rest as in
    :func:`astar`. ``scratch_f`` (2, n) float, ``scratch_i`` (2, n) int64,
    ``scratch_b`` (2, n) bool and ``heap_k``/``heap_v`` (2, n_links + 2) are
    work arrays reused between calls (no allocation, no page faults per query).
    ``eps`` > 1 inflates the potentials (weighted A*): fewer nodes settled, and a
    path that may be up to about ``eps`` times longer than the shortest; 1.0 is
    exact. Returns (cost [s], link indices in order, nodes settled).
    """
    if s == t:
        return 0.0, np.empty(0, dtype=np.int64), 0
    df = scratch_f[0]
    dr = scratch_f[1]
    pf = scratch_i[0]
    pr = scratch_i[1]
    sf_done = scratch_b[0]
    sr_done = scratch_b[1]
    df[:] = np.inf
    dr[:] = np.inf
    sf_done[:] = False
    sr_done[:] = False
    hkf = heap_k[0]
    hvf = heap_v[0]
    hkr = heap_k[1]
    hvr = heap_v[1]
    sel = _active_landmarks(lm_from, lm_to, s, t, n_active)
    na = sel.shape[0]
    tf = np.empty(na)
    tt = np.empty(na)
    sf = np.empty(na)
    st = np.empty(na)
    for i in range(na):
        tf[i] = lm_from[t, sel[i]]
        tt[i] = lm_to[t, sel[i]]
        sf[i] = lm_from[s, sel[i]]
        st[i] = lm_to[s, sel[i]]
    if _potential(s, lm_from, lm_to, sel, tf, tt) == np.inf:
        return np.inf, np.empty(0, dtype=np.int64), 0
    ps = 0.5 * eps * (_potential(s, lm_from, lm_to, sel, tf, tt) - 0.0)
    pt = 0.5 * eps * (0.0 - _lower_from_s(t, lm_from, lm_to, sel, sf, st))
    df[s] = 0.0
    dr[t] = 0.0
    nf = _heap_push(hkf, hvf, 0, ps, s)
    nr = _heap_push(hkr, hvr, 0, -pt, t)
    mu = np.inf
    meet = -1
    settled = 0
    while nf > 0 and nr > 0:
        if hkf[0] + hkr[0] >= mu:
            break
        if hkf[0] <= hkr[0]:
            u = hvf[0]
            nf = _heap_pop(hkf, hvf, nf)
            if sf_done[u]:
                continue
            sf_done[u] = True
            settled += 1
            du = df[u]
            for j in range(indptr[u], indptr[u + 1]):
                v = head[j]
                if sf_done[v]:
                    continue
                e = edge[j]
                nd = du + w[e]
                if nd < df[v]:
                    ht = _potential(v, lm_from, lm_to, sel, tf, tt)
                    if ht == np.inf:
                        continue
                    hs = _lower_from_s(v, lm_from, lm_to, sel, sf, st)
                    df[v] = nd
                    pf[v] = e
                    nf = _heap_push(hkf, hvf, nf, nd + 0.5 * eps * (ht - hs), v)
                    if nd + dr[v] < mu:
                        mu = nd + dr[v]
                        meet = v
        else:
            u = hvr[0]
            nr = _heap_pop(hkr, hvr, nr)
            if sr_done[u]:
                continue
            sr_done[u] = True
            settled += 1
            du = dr[u]
            for j in range(rindptr[u], rindptr[u + 1]):
                v = rhead[j]
                if sr_done[v]:
                    continue
                e = redge[j]
                nd = du + w[e]
                if nd < dr[v]:
                    hs = _lower_from_s(v, lm_from, lm_to, sel, sf, st)
                    if hs == np.inf:
                        continue
                    ht = _potential(v, lm_from, lm_to, sel, tf, tt)
                    dr[v] = nd
                    pr[v] = e
                    nr = _heap_push(hkr, hvr, nr, nd - 0.5 * eps * (ht - hs), v)
                    if df[v] + nd < mu:
                        mu = df[v] + nd
                        meet = v
    if meet < 0:
        return np.inf, np.empty(0, dtype=np.int64), settled
    count = 0
    v = meet
    while v != s:
        count += 1
        v = tail[pf[v]]
    v = meet
    while v != t:
        count += 1
        v = to[pr[v]]
    path = np.empty(count, dtype=np.int64)
    i = 0
    v = meet
    while v != s:
        i += 1
        v = tail[pf[v]]
    v = meet
    j = i - 1
    while v != s:
        path[j] = pf[v]
        v = tail[pf[v]]
        j -= 1
    v = meet
    while v != t:
        path[i] = pr[v]
        v = to[pr[v]]
        i += 1
    return mu, path, settled


@njit(cache=True, nogil=True)
def dijkstra_rows(indptr, head, edge, w, sources, out):
    """One-to-all Dijkstra from each of ``sources`` into the rows of ``out``.

    ``indptr, head, edge`` a CSR as in :func:`astar` (forward for distances from
    the sources, the reverse CSR for distances to them), ``w`` the link weights
    [s]; ``out`` is (len(sources), n_nodes) and receives the distances (inf:
    unreachable). Parallel links are fine (the cheaper one wins). Runs without
    the GIL, so several threads can fill different rows at once.
    """
    n = indptr.shape[0] - 1
    cap = head.shape[0] + 2
    hk = np.empty(cap)
    hv = np.empty(cap, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    for r in range(sources.shape[0]):
        dist = out[r]
        dist[:] = np.inf
        done[:] = False
        s = sources[r]
        dist[s] = 0.0
        size = _heap_push(hk, hv, 0, 0.0, s)
        while size > 0:
            d = hk[0]
            u = hv[0]
            size = _heap_pop(hk, hv, size)
            if done[u]:
                continue
            done[u] = True
            for j in range(indptr[u], indptr[u + 1]):
                v = head[j]
                nd = d + w[edge[j]]
                if nd < dist[v]:
                    dist[v] = nd
                    size = _heap_push(hk, hv, size, nd, v)
