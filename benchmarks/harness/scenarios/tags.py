"""The tags-list scenario: the whole list and the list in pages of ``n``, checked in full."""

from __future__ import annotations

import json
import statistics
import time

from harness.errors import BenchError
from harness.profiles import ORDER
from harness.rawhttp import Conn, expect
from harness.registry_ops import next_link
from harness.session import Bench


def list_tags(bench: Bench) -> None:
    expected = sorted(bench.tag_names)
    n = bench.p.tags_page
    for name in ORDER:
        srv = bench.servers[name]
        bench.settle()
        conn = Conn(srv.port)
        whole: list[float] = []
        paged: list[float] = []
        pages_seen = 0
        deadline = time.perf_counter() + bench.p.phase_timeout
        for _ in range(bench.p.tags_repeats):
            t0 = time.perf_counter()
            resp = expect(conn.request("GET", "/v2/bench/tags/tags/list"), 200, f"{name} tags list")
            tags = json.loads(resp.body)["tags"]
            whole.append(time.perf_counter() - t0)
            if sorted(tags) != expected:
                raise BenchError(f"{name} tags list: {len(tags)} tags, not the ones pushed")
            if tags != expected:
                bench.note(f"{name} returns the tags list unsorted (not in lexical order)")
            t0 = time.perf_counter()
            got: list[str] = []
            target: str | None = f"/v2/bench/tags/tags/list?n={n}"
            pages = 0
            while target is not None:
                resp = expect(conn.request("GET", target), 200, f"{name} tags page")
                got += json.loads(resp.body)["tags"] or []
                pages += 1
                target = next_link(resp.header("link"))
                if pages > len(expected) // max(n, 1) + 2:
                    raise BenchError(f"{name} tags pages: more pages than tags allow")
            paged.append(time.perf_counter() - t0)
            pages_seen = pages
            if sorted(got) != expected or len(set(got)) != len(got):
                raise BenchError(
                    f"{name} paged tags list: {len(got)} tags in {pages} pages, not the ones pushed"
                )
            if time.perf_counter() > deadline:
                raise BenchError(f"{name} tags list: over the time bound")
        conn.close()
        want_pages = -(-len(expected) // n)
        if pages_seen < want_pages:
            note = (
                f"{name} ignores n={n} on tags/list: {len(expected)} tags came in "
                f"{pages_seen} page(s)"
            )
            bench.note(note)
        bench.record("tags_whole_ms", name, statistics.median(whole) * 1000)
        bench.record("tags_paged_ms", name, statistics.median(paged) * 1000)
        bench.record("tags_pages", name, pages_seen)
