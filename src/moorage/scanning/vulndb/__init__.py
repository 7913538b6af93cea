"""The vulnerability database: OSV records (osv.dev's schema) in the registry's SQL database,
indexed by (ecosystem, package name), updated online from a feed or offline from a file.

Tables (``moorage.db.scan_tables``): ``vuln_records`` (one row per version of a record: id,
modified, withdrawn, source, the record's JSON compressed), ``vuln_packages`` (the packages a
version names: ecosystem as the record says, its base, name and lookup key), ``vuln_aliases``,
``vuln_import_seen`` (the import under way's work table) and ``vuln_db_status`` (one row: the
current generation, what it holds, the last attempt, the update lock and its progress).

**Updates are atomic without a long transaction.** Each record row carries the generations it
belongs to: ``gen_from <= g < gen_to`` (``gen_to`` NULL: still current). Readers see the
generation the status row names, read in the same statement as the rows (``query``). An import
(``importer.import_archives``) takes the update lock (a lease in the status row, renewed by every
batch, so one import runs at a time across processes and replicas), clears what a failed import
left (rows staged past the current generation ``G``), then stages generation ``G+1`` beside it in
batches of 200 records read, parsed and compressed in a worker thread, each batch its own short
write transaction (about 12 ms on SQLite here, 80 ms at worst when a WAL checkpoint falls in it):
a new or changed record is a new row from ``G+1``; the row it replaces gets ``gen_to = G+1``
(still visible in ``G``); a record whose ``modified`` did not change is not rewritten (only noted
in the work table). Pushes and pulls go on between batches, on SQLite too. When every batch is
in, one short transaction moves the status row to ``G+1``, records the counts and releases the
lock: readers see the old database or the new one, never part of each. A failed or interrupted
import (a bad record, the process killed, the lock taken over, a stop asked) never flips: ``G``
stays in force, and its staged rows are invisible until the next import removes them. After the
flip, rows dead before ``G`` are deleted; the rows ``G`` still shows stay until the next flip, so
a reader that pinned ``G`` keeps a whole database and the last update's changes can be listed
(``query.changed_packages``) for re-matching.

Counts of an import: added, updated, unchanged, withdrawn (kept, marked withdrawn; the queries
leave them out), removed (a full snapshot, ``prune``: current records of the same kind of source,
online or offline, that the snapshot no longer holds), duplicates (copies of a record met again:
the newest ``modified`` is kept). Measured here (2 cores, SQLite): about 4,000 records a second
for a first import, 6,000 for an unchanged one, 1 KB of database a record.

Modules: ``records`` (the few fields read of each record, lookup keys), ``archive`` (zip checks
and streaming reads), ``store`` (the SQL steps), ``importer`` (one import), ``feed`` (online
updates through ``moorage.remote``), ``query`` (what the matcher asks), ``status``.
"""
