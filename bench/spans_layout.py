#!/usr/bin/env python3
# The spans table's layout (src/store/sqlite/sqlite_trace.cpp): process CPU to insert N traces of
# four spans (random trace ids, as shadow pairs and eval rows have), eight traces per
# transaction as the log's writer batches them, WAL and synchronous=NORMAL as keel opens its
# log, into (a) the WITHOUT ROWID table keyed by (trace_id, span_id) that keel used before
# 2026-12-08 and (b) today's rowid table with a unique index on that key. The same Python loop
# feeds both, so the difference is SQLite's. Not a test.
#
#   python3 bench/spans_layout.py [TRACES ...]     # default: 2000 50000
import os
import sqlite3
import sys
import tempfile
import time

COLUMNS = '(trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, name TEXT, kind INTEGER, ' \
          'start_ns INTEGER, end_ns INTEGER, status INTEGER, status_message TEXT, attributes TEXT'
LAYOUTS = {
    'without rowid (before)': f'CREATE TABLE spans{COLUMNS}, PRIMARY KEY(trace_id, span_id)) WITHOUT ROWID;'
                              'CREATE INDEX spans_start_ns ON spans(start_ns);',
    'rowid + unique index (now)': f'CREATE TABLE spans{COLUMNS});'
                                  'CREATE UNIQUE INDEX spans_trace_span ON spans(trace_id, span_id);'
                                  'CREATE INDEX spans_start_ns ON spans(start_ns);',
}
ATTRIBUTES = ('{"gen_ai.operation.name":"chat","gen_ai.request.model":"bench-candidate",'
              '"gen_ai.response.model":"m","gen_ai.usage.input_tokens":8,"gen_ai.usage.output_tokens":6,'
              '"keel.provider":"mock","keel.request.id":"req_0123456789abcdef01234567"}')


def insert(schema, traces, per_commit=8):
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(os.path.join(folder, 'keel.db'), isolation_level=None)
        db.execute('PRAGMA journal_mode=WAL')
        db.execute('PRAGMA synchronous=NORMAL')
        db.executescript(schema)
        start = time.process_time()
        ns = 0
        for _ in range(0, traces, per_commit):
            rows = []
            for _ in range(per_commit):
                trace = os.urandom(16).hex()
                for _ in range(4):
                    ns += 1000
                    rows.append((trace, os.urandom(8).hex(), None, 'evaluate f1', 1, ns, ns + 500, 1, None,
                                 ATTRIBUTES))
            db.execute('BEGIN')
            db.executemany('INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?)', rows)
            db.execute('COMMIT')
        elapsed = time.process_time() - start
        db.close()
        return elapsed


for traces in [int(a) for a in sys.argv[1:]] or [2000, 50000]:
    for name, schema in LAYOUTS.items():
        print(f'{traces * 4:>7} spans  {name:<28} {insert(schema, traces):7.3f} s CPU')
