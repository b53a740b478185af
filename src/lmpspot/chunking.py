"""Chunk lengths for a run stage, from the measured cost of a chunk boundary.

A stage runs as ``run E upto ... pre no post no`` chunks.  Each boundary costs a fixed
amount ``a`` (the ``run`` command's own work: thermo header and lines, the energy and
virial evaluated on the chunk's last step for that line, the end-of-run summary, and the
Python between two commands) besides the ``b`` seconds per MD step.  A chunk of ``n``
steps takes ``a + b*n``; :class:`ChunkSizer` fits ``a`` and ``b`` by least squares over
the recent chunks (they have different lengths while the size adapts) and picks the
length whose boundary cost is ``overhead`` (0.5 %) of its MD time -- but never shorter
than ``min_seconds`` nor longer than ``max_seconds`` of wall time, which bounds how long
a spot notice waits for the current chunk to end.

Before anything is measured the chunks are short and bounded by wall time too: the
stage's first chunk (``pre yes``: LAMMPS' setup and one step) is not a boundary sample
(its setup is not a per-chunk cost), but its wall time is an upper bound on one step's,
so the lengths that follow it grow from one step and never exceed ``max_seconds`` of
that bound -- a notice during the first chunks of an attempt on a large system waits for
one chunk of at most ``max_seconds`` (plus LAMMPS' setup, which no chunk length can avoid).
"""

from __future__ import annotations

from collections import deque

FIRST_CHUNK = 1  # steps of a stage's first (pre yes) chunk, before anything is measured


class ChunkSizer:
    """Next chunk length in steps from ``(steps, seconds)`` of the chunks so far."""

    def __init__(
        self,
        min_seconds: float = 1.5,
        max_seconds: float = 5.0,
        overhead: float = 0.005,
        window: int = 8,
    ) -> None:
        self.min_seconds = min_seconds
        self.max_seconds = max(max_seconds, min_seconds)
        self.overhead = overhead
        self.samples: deque[tuple[int, float]] = deque(maxlen=window)
        self.step_seconds = 0.0  # b: wall s per MD step
        self.boundary_seconds = 0.0  # a: wall s per chunk boundary
        self.last = FIRST_CHUNK
        self.step_bound = 0.0  # wall s per step at most, from a pre-yes chunk (0: unknown)
        self.fitted = False  # a and b separated at least once (lengths differed enough)

    def observe_setup(self, steps: int, seconds: float) -> None:
        """A ``pre yes`` chunk of ``steps`` steps took ``seconds``, LAMMPS' setup included:
        not a boundary sample, but ``seconds / steps`` bounds one step's wall time."""
        if steps > 0 and seconds > 0:
            self.step_bound = seconds / steps

    def observe(self, steps: int, seconds: float) -> None:
        """One chunk of ``steps`` steps took ``seconds`` (``run`` command plus the Python
        around it up to the next ``run``)."""
        if steps <= 0 or seconds <= 0:
            return
        self.samples.append((steps, seconds))
        self._fit()

    def _fit(self) -> None:
        xs = [float(n) for n, _ in self.samples]
        ys = [t for _, t in self.samples]
        k = len(xs)
        mx, my = sum(xs) / k, sum(ys) / k
        sxx = sum((x - mx) ** 2 for x in xs)
        if k >= 3 and sxx > 0 and max(xs) >= 2 * min(xs):
            b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
            a = my - b * mx
            if b > 0:
                self.step_seconds = b
                self.boundary_seconds = max(a, 0.0)
                self.fitted = True
                return
        # too few or too similar lengths (the size has settled): keep the last fitted
        # boundary cost, the rest is MD time
        md = sum(ys) - k * self.boundary_seconds
        self.step_seconds = md / sum(xs) if md > 0 else sum(ys) / sum(xs)

    @property
    def rate(self) -> float:
        """Measured MD steps per wall second (0 before the first chunk)."""
        return 1.0 / self.step_seconds if self.step_seconds > 0 else 0.0

    def target_seconds(self) -> float:
        """Wall seconds of MD per chunk: boundary cost / overhead, within the bounds."""
        want = self.boundary_seconds / self.overhead if self.overhead > 0 else self.max_seconds
        return min(max(want, self.min_seconds), self.max_seconds)

    def next(self) -> int:
        """Steps for the next chunk.

        Until ``a`` and ``b`` are told apart the lengths double (1, 2, 4 ...: different
        lengths are what separates them), each at most ``max_seconds`` at the measured
        wall time per step, which still includes the boundary (an over-estimate of ``b``).
        Then the fitted length, growing at most 4x per chunk."""
        if not self.fitted:
            per_step = self.step_seconds if self.step_seconds > 0 else self.step_bound
            n = min(self.last * 2, 1000)
            if per_step > 0:
                n = min(n, max(1, int(self.max_seconds / per_step)))
            self.last = n
            return self.last
        n = round(self.target_seconds() / self.step_seconds)
        self.last = max(1, min(n, 4 * max(self.last, 1)))
        return self.last
