"""Freezing a process's long-lived objects: what lives is left out of collections, garbage is not kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# In a process of its own: a freeze is process-wide and `freeze_for_good` is never undone.
_SCRIPT = textwrap.dedent("""
    import gc, weakref
    from monitor.runtime.long_lived import freeze_for_good

    class Node:
        pass

    kept = [Node() for _ in range(1000)]
    cycle = Node()
    cycle.self = cycle  # garbage that only a collection frees
    cycle_ref = weakref.ref(cycle)
    del cycle
    gc.disable()  # no collection but the one freeze_for_good makes
    tracked_before = any(o is kept for o in gc.get_objects())
    frozen = freeze_for_good()
    print(tracked_before, any(o is kept for o in gc.get_objects()), frozen >= 1000, frozen == gc.get_freeze_count(),
          cycle_ref() is None)
""")


def test_freeze_for_good_leaves_what_lives_out_of_collections_and_frees_garbage_first() -> None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True)
    tracked_before, tracked_after, counted, reported, garbage_freed = proc.stdout.split()
    assert tracked_before == "True"
    assert tracked_after == "False"  # frozen: in no generation a collection walks
    assert counted == "True" and reported == "True"
    assert garbage_freed == "True"  # collected before the freeze, not frozen with the rest
