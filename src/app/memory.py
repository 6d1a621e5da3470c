"""The garbage collector's settings for a server process, applied once start-up is done.

CPython's cyclic collector runs its youngest generation every 700 net container allocations and,
every so often, walks every object in the process, including the tens of thousands that imports
and start-up created and that live until exit. Under load that is a real share of each request's
CPU (the more objects a request allocates, the more; bench/README.md has the figures). So, once
the app has started:

- `gc.freeze()` moves everything alive into a permanent generation the collector never walks;
- the youngest generation is collected every 5,000 net allocations instead of 700, and older
  generations less often.

Cyclic garbage a request leaves behind is still collected, a little later; reference counting
frees everything else at once, as before.
"""

from __future__ import annotations

import gc

THRESHOLDS = (5_000, 20, 20)


def settle_after_start_up() -> None:
    """Collect start-up garbage, freeze what survives, and space out the collections to come."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
