"""The membership table stays linear under a flood of distinct members (issue 19, defect 8):
20,000 members took 62 s to insert (a full re-sort per insert) and 7.3 s to expire at once (one
list scan per removal). The order must stay exactly Tomcat's (stable sort by alive descending),
checked against that reference algorithm under random inserts, alive changes and removals."""
from __future__ import annotations

import random
import time

from tribes.membership.member import Member
from tribes.membership.membership import Membership


def mk(i: int, alive: int) -> Member:
    return Member(host=bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]), port=4000,
                  unique_id=i.to_bytes(16, "big"), alive=alive)


class Reference:
    """The old table's algorithm: append + stable re-sort, filter on removal."""

    def __init__(self) -> None:
        self.order: list[Member] = []

    def alive(self, m: Member) -> None:
        for i, x in enumerate(self.order):
            if x == m:
                if x.alive != m.alive:
                    self.order[i] = m
                    self.order.sort(key=lambda e: -e.alive)
                return
        self.order.append(m)
        self.order.sort(key=lambda e: -e.alive)

    def remove(self, m: Member) -> None:
        self.order = [x for x in self.order if x != m]


def test_order_matches_tomcats_stable_sort() -> None:
    rnd = random.Random(19)
    table, ref = Membership(), Reference()
    ids = list(range(300))
    for step in range(3000):
        i = rnd.choice(ids)
        op = rnd.random()
        if op < 0.8:
            m = mk(i, rnd.choice([1000, 2000, 3000, 4000, rnd.randrange(10**6)]))
            table.alive(m, float(step))
            ref.alive(m)
        else:
            m = mk(i, 0)
            table.remove(m)
            ref.remove(m)
        assert [(x.unique_id, x.alive) for x in table.members()] == [(x.unique_id, x.alive) for x in ref.order]


def test_twenty_thousand_members_insert_and_expire_in_linear_time() -> None:
    n = 20_000
    table = Membership()
    started = time.perf_counter()
    for i in range(n):
        table.alive(mk(i, 5000 + (i % 7)), 0.0)     # many ties, as a flood would have
    inserted = time.perf_counter() - started
    assert len(table) == n and table.members()[0].alive == 5006
    started = time.perf_counter()
    gone = table.expire(100.0, 3.0)
    expired = time.perf_counter() - started
    assert len(gone) == n and len(table) == 0 and table.members() == []
    # 2.0 s and 0.5 s here on a loaded machine; the old table took 62 s and 7.3 s (generous ceilings)
    assert inserted < 15.0 and expired < 5.0, (inserted, expired)
