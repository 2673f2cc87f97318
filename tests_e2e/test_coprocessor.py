"""The coprocessor end to end, against real processes, with requests built the way TinySQL builds them.

A scheduler (timestamps) and a store. Rows and index entries of a TinySQL table are written through
KvPrewrite/KvCommit with TinySQL's encodings (tests_e2e/tinysql_codec.py, written from TinySQL's
sources, independently of the Swift Codec module):

    CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(32) UNIQUE, age INT, score DOUBLE, price DECIMAL(8,2),
                    KEY idx_age (age));
    ALTER TABLE t ADD COLUMN city VARCHAR(16) DEFAULT 'x';  -- rows written before it lack the column

Then `TinyKv/Coprocessor` requests (tp 103, a tipb.DAGRequest in `data`, key ranges as distsql builds them,
start_ts from the scheduler's TSO): table and index scans, Selection, Aggregation, TopN, Limit and
output_offsets. The tipb.SelectResponse chunks are decoded in Python and compared with rows computed
from the data written. Also: a lock in the way, unsupported and malformed requests.
"""
import decimal
import random

import grpc
import pytest

import coprocessor_pb2 as copr
import kvrpcpb_pb2 as kv
import schedulerpb_pb2_grpc as pd_grpc
import tinykvpb_pb2_grpc as tinykv
from tipb import tipb_pb2 as tipb

import tinysql_codec as codec
from conftest import BIN, Process, free_port, wait_port
from percolator import Percolator

D = decimal.Decimal
TABLE_ID = 71
IDX_AGE = 1      # KEY idx_age (age): non-unique
IDX_NAME = 2     # UNIQUE (name)
REQ_DAG = 103

# MySQL types and flags (parser/mysql).
T_LONG, T_DOUBLE, T_LONGLONG, T_VARCHAR, T_NEWDECIMAL = 3, 5, 8, 15, 246
NOT_NULL, PRI_KEY, UNIQUE_KEY, MULTIPLE_KEY, BINARY = 1, 2, 4, 8, 128
COLLATE_BIN, COLLATE_UTF8MB4_BIN = 63, 46

ID, NAME, AGE, SCORE, PRICE, CITY = 1, 2, 3, 4, 5, 6
COLUMNS = {
    ID: dict(name="id", tp=T_LONG, flag=PRI_KEY | NOT_NULL, flen=11, decimal=0, collation=COLLATE_BIN),
    NAME: dict(name="name", tp=T_VARCHAR, flag=UNIQUE_KEY, flen=32, decimal=0, collation=COLLATE_UTF8MB4_BIN),
    AGE: dict(name="age", tp=T_LONG, flag=MULTIPLE_KEY, flen=11, decimal=0, collation=COLLATE_BIN),
    SCORE: dict(name="score", tp=T_DOUBLE, flag=0, flen=22, decimal=-1, collation=COLLATE_BIN),
    PRICE: dict(name="price", tp=T_NEWDECIMAL, flag=0, flen=8, decimal=2, collation=COLLATE_BIN),
    CITY: dict(name="city", tp=T_VARCHAR, flag=0, flen=16, decimal=0, collation=COLLATE_UTF8MB4_BIN, default=b"x"),
}
ALL = [ID, NAME, AGE, SCORE, PRICE, CITY]
HANDLES = [-3, -2, -1] + list(range(1, 128))  # 130 rows: more than two 64-row chunks
CITY_ADDED_AFTER = 30                          # rows with id <= 30 were written before ADD COLUMN city


def sig(name):
    return tipb.ScalarFuncSig.Value(name)


# ---------------------------------------------------------------- the data

def generate_rows():
    rng = random.Random(12)
    rows = {}
    for h in HANDLES:
        r = {ID: h}
        r[NAME] = None if rng.random() < 0.08 else f"{rng.choice('abcdm')}{rng.choice(['li', 'wang', 'zhao', 'q'])}{h & 0xFFFF:03d}".encode()
        r[AGE] = None if rng.random() < 0.1 else rng.randint(18, 60)
        r[SCORE] = None if rng.random() < 0.1 else round(rng.uniform(0, 100), 2)
        r[PRICE] = None if rng.random() < 0.1 else D(rng.randint(-99999, 9999999)).scaleb(-2)
        r[CITY] = b"x" if h <= CITY_ADDED_AFTER else rng.choice([b"bj", b"sh", b"sz", None])
        rows[h] = r
    return rows


def row_value(r):
    """The row value TinySQL writes: the handle column is in the key, not the value. NULL name and score
    are left out (a column without a value takes its default, NULL); NULL age and price are stored as NULL."""
    values = {}
    for cid in (NAME, AGE, SCORE, PRICE, CITY):
        if cid == CITY and r[ID] <= CITY_ADDED_AFTER:
            continue  # written before the column existed
        if r[cid] is None and cid in (NAME, SCORE):
            continue
        values[cid] = r[cid]
    return codec.encode_row(COLUMNS, values)


def row_mutations(r, op=kv.Put):
    """The row and its index entries, as TinySQL's AddRecord / RemoveRecord write them."""
    h = r[ID]
    out = [(op, codec.row_key(TABLE_ID, h), row_value(r)),
           (op, codec.index_key(TABLE_ID, IDX_AGE, [r[AGE]], h), codec.NON_UNIQUE_INDEX_VALUE)]
    if r[NAME] is None:  # a NULL never collides: distinct = false, handle in the key
        out.append((op, codec.index_key(TABLE_ID, IDX_NAME, [None], h), codec.NON_UNIQUE_INDEX_VALUE))
    else:
        out.append((op, codec.index_key(TABLE_ID, IDX_NAME, [r[NAME]]), codec.unique_index_value(h)))
    if op == kv.Del:
        out = [(op, k, b"") for op, k, _ in out]
    return out


def commit(client, mutations, start_ts=None):
    start_ts = start_ts or client.ts()
    muts = sorted(mutations, key=lambda m: m[1])
    primary = muts[0][1]
    r = client.kv.KvPrewrite(kv.PrewriteRequest(
        mutations=[kv.Mutation(op=op, key=k, value=v) for op, k, v in muts],
        primary_lock=primary, start_version=start_ts, lock_ttl=3000))
    assert not r.errors and not r.HasField("region_error"), r
    commit_ts = client.ts()
    c = client.kv.KvCommit(kv.CommitRequest(start_version=start_ts, keys=[k for _, k, _ in muts], commit_version=commit_ts))
    assert not c.HasField("error") and not c.HasField("region_error"), c
    return commit_ts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("copr")
    pd_port, kv_port = free_port(), free_port()
    pd = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{pd_port}",
                  "--data-dir", str(workdir / "pd"), "--name", "pd"], str(workdir / "pd.log"))
    wait_port(pd_port, pd.proc)
    store = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{kv_port}", "-path", str(workdir / "kv")],
                    str(workdir / "kv.log"))
    wait_port(kv_port, store.proc)
    client = Percolator(pd_grpc.SchedulerStub(grpc.insecure_channel(f"127.0.0.1:{pd_port}")),
                        tinykv.TinyKvStub(grpc.insecure_channel(f"127.0.0.1:{kv_port}")))

    # Version 1: every row; then version 2 changes two rows and deletes one.
    v1 = generate_rows()
    commit(client, [m for r in v1.values() for m in row_mutations(r)])
    ts_v1 = client.ts()
    v2 = {h: dict(r) for h, r in v1.items()}
    muts = []
    for h, age in ((5, 99), (6, None)):
        muts += row_mutations(v1[h], kv.Del)
        v2[h][AGE] = age
        muts += row_mutations(v2[h])
    muts += row_mutations(v1[7], kv.Del)
    del v2[7]
    # A delete and a put of the same key in one transaction: keep the put.
    by_key = {}
    for m in muts:
        by_key[m[1]] = m
    commit(client, list(by_key.values()))
    yield dict(client=client, kv=client.kv, store=store, v1=v1, rows=v2, ts_v1=ts_v1)
    store.stop()
    pd.stop()
    assert "Fatal error" not in store.output()


# ---------------------------------------------------------------- building requests as TinySQL does

def column_info(cid, pk_handle=True):
    c = COLUMNS[cid]
    info = tipb.ColumnInfo(column_id=cid, tp=c["tp"], collation=c["collation"], columnLen=c["flen"],
                           decimal=c["decimal"], flag=c["flag"])
    if pk_handle and c["flag"] & PRI_KEY:
        info.pk_handle = True
    if "default" in c:
        info.default_val = codec.encode_value_datum(c["default"])
    return info


def field_type(tp, flag=0, flen=0, dec=0, collate=COLLATE_BIN):
    return tipb.FieldType(tp=tp, flag=flag, flen=flen, decimal=dec, collate=collate,
                          charset="binary" if collate == COLLATE_BIN else "utf8mb4")


BOOL_FT = field_type(T_LONGLONG, BINARY, 1)
INT_FT = field_type(T_LONGLONG, BINARY, 20)


def col(offset, cid):
    c = COLUMNS[cid]
    return tipb.Expr(tp=tipb.ColumnRef, val=codec.encode_int_cmp(offset),
                     field_type=field_type(c["tp"], c["flag"], c["flen"], c["decimal"], c["collation"]))


def const(v):
    if v is None:
        return tipb.Expr(tp=tipb.Null, field_type=field_type(6))
    if isinstance(v, int):
        return tipb.Expr(tp=tipb.Int64, val=codec.encode_int_cmp(v), field_type=INT_FT)
    if isinstance(v, float):
        return tipb.Expr(tp=tipb.Float64, val=codec.encode_float_cmp(v), field_type=field_type(T_DOUBLE, BINARY, 22, -1))
    return tipb.Expr(tp=tipb.String, val=v, field_type=field_type(T_VARCHAR, 0, len(v), 0, COLLATE_UTF8MB4_BIN))


def func(name, *children, ft=BOOL_FT):
    return tipb.Expr(tp=tipb.ScalarFunc, sig=sig(name), children=list(children), field_type=ft)


def agg(kind, *children, ft=INT_FT):
    return tipb.Expr(tp=tipb.ExprType.Value(kind), children=list(children), field_type=ft)


def table_scan(cols, desc=False):
    return tipb.Executor(tp=tipb.TypeTableScan, tbl_scan=tipb.TableScan(
        table_id=TABLE_ID, columns=[column_info(c) for c in cols], desc=desc))


def index_scan(index_id, cols, desc=False, unique=False):
    return tipb.Executor(tp=tipb.TypeIndexScan, idx_scan=tipb.IndexScan(
        table_id=TABLE_ID, index_id=index_id, columns=[column_info(c) for c in cols], desc=desc, unique=unique))


def selection(*conditions):
    return tipb.Executor(tp=tipb.TypeSelection, selection=tipb.Selection(conditions=list(conditions)))


def aggregation(funcs, group_by=(), stream=False):
    a = tipb.Aggregation(agg_func=list(funcs), group_by=list(group_by), streamed=stream)
    return tipb.Executor(tp=tipb.TypeStreamAgg if stream else tipb.TypeAggregation, aggregation=a)


def topn(limit, *items):
    return tipb.Executor(tp=tipb.TypeTopN, topN=tipb.TopN(
        limit=limit, order_by=[tipb.ByItem(expr=e, desc=d) for e, d in items]))


def limit(n):
    return tipb.Executor(tp=tipb.TypeLimit, limit=tipb.Limit(limit=n))


FULL_TABLE = [codec.handle_range(TABLE_ID, -(1 << 63), (1 << 63) - 1)]


def send(cluster, executors, ranges, start_ts=None, output_offsets=(), tp=REQ_DAG, data=None):
    start_ts = start_ts or cluster["client"].ts()
    if data is None:
        data = tipb.DAGRequest(start_ts_fallback=start_ts, executors=executors, time_zone_offset=0, flags=0,
                               output_offsets=list(output_offsets), encode_type=tipb.TypeDefault).SerializeToString()
    return cluster["kv"].Coprocessor(copr.Request(
        context=kv.Context(), tp=tp, data=data, start_ts=start_ts,
        ranges=[copr.KeyRange(start=s, end=e) for s, e in ranges]))


def select(cluster, executors, ranges, width, **kw):
    """Sends a DAG request and decodes its rows (TinySQL's distsql: chunk by chunk, column by column)."""
    resp = send(cluster, executors, ranges, **kw)
    assert not resp.other_error and not resp.HasField("region_error") and not resp.HasField("locked"), resp
    sel = tipb.SelectResponse.FromString(resp.data)
    assert not sel.HasField("error"), sel.error
    rows = []
    for chunk in sel.chunks:
        got = codec.decode_rows(chunk.rows_data, width)
        assert len(got) <= 64
        rows += got
    if len(rows) > 64:
        assert len(codec.decode_rows(sel.chunks[0].rows_data, width)) == 64
    return rows


# ---------------------------------------------------------------- expected values

def project(r, cols):
    return tuple(r[c] for c in cols)


def by_handle(rows, desc=False):
    return [rows[h] for h in sorted(rows, reverse=desc)]


def null_first(v):
    return (v is not None, v if v is not None else 0)


# ---------------------------------------------------------------- scans

def test_full_table_scan_asc_desc_and_mvcc_snapshot(cluster):
    rows = cluster["rows"]
    got = select(cluster, [table_scan(ALL)], FULL_TABLE, 6)
    assert got == [project(r, ALL) for r in by_handle(rows)]
    assert len(got) == len(HANDLES) - 1  # more than two chunks
    got = select(cluster, [table_scan(ALL, desc=True)], FULL_TABLE, 6)
    assert got == [project(r, ALL) for r in by_handle(rows, desc=True)]
    # At the first version's timestamp: the old ages and the deleted row.
    old = select(cluster, [table_scan(ALL)], FULL_TABLE, 6, start_ts=cluster["ts_v1"])
    assert old == [project(r, ALL) for r in by_handle(cluster["v1"])]
    assert 7 in [r[0] for r in old] and 7 not in [r[0] for r in got]


def test_table_scan_ranges_and_column_subsets(cluster):
    rows = cluster["rows"]
    # WHERE id BETWEEN -2 AND -1 OR id BETWEEN 5 AND 10 OR (id > 20 AND id < 25) OR id = 40
    ranges = [codec.handle_range(TABLE_ID, -2, -1), codec.handle_range(TABLE_ID, 5, 10),
              codec.handle_range(TABLE_ID, 20, 25, low_exclude=True, high_exclude=True),
              codec.handle_range(TABLE_ID, 40, 40)]
    want = [h for h in sorted(rows) if -2 <= h <= -1 or 5 <= h <= 10 or 20 < h < 25 or h == 40]
    cols = [ID, AGE, CITY]
    assert select(cluster, [table_scan(cols)], ranges, 3) == [project(rows[h], cols) for h in want]
    assert select(cluster, [table_scan(cols, desc=True)], ranges, 3) == [project(rows[h], cols) for h in reversed(want)]
    # Columns in another order, without the handle; the default of city for old rows.
    cols = [CITY, PRICE, NAME]
    assert select(cluster, [table_scan(cols)], ranges, 3) == [project(rows[h], cols) for h in want]
    assert all(rows[h][CITY] == b"x" for h in want if h <= CITY_ADDED_AFTER)


def test_output_offsets_pick_and_reorder_columns(cluster):
    rows = cluster["rows"]
    got = select(cluster, [table_scan(ALL)], FULL_TABLE, 3, output_offsets=[2, 0, 4])
    assert got == [(r[AGE], r[ID], r[PRICE]) for r in by_handle(rows)]


def test_index_scan_non_unique(cluster):
    rows = cluster["rows"]
    entries = sorted(((r[AGE], h) for h, r in rows.items()), key=lambda e: (null_first(e[0]), e[1]))
    full = [codec.full_index_range(TABLE_ID, IDX_AGE)]
    # Index columns then the handle (the integer primary key).
    assert select(cluster, [index_scan(IDX_AGE, [AGE, ID])], full, 2) == entries
    assert select(cluster, [index_scan(IDX_AGE, [AGE, ID], desc=True)], full, 2) == entries[::-1]
    # Without the handle.
    assert select(cluster, [index_scan(IDX_AGE, [AGE])], full, 1) == [(a,) for a, _ in entries]
    # age BETWEEN 30 AND 40, age > 50 (to MaxValue), age IS NULL.
    r1 = codec.index_range(TABLE_ID, IDX_AGE, [30], [40])
    prefix = codec.index_prefix(TABLE_ID, IDX_AGE)
    r2 = (prefix + codec.prefix_next(codec.encode_key(50)), prefix + codec.prefix_next(bytes([codec.MAX_FLAG])))
    r3 = codec.index_range(TABLE_ID, IDX_AGE, [None], [None])
    want = [e for e in entries if e[0] is not None and 30 <= e[0] <= 40]
    assert select(cluster, [index_scan(IDX_AGE, [AGE, ID])], [r1], 2) == want
    got = select(cluster, [index_scan(IDX_AGE, [AGE, ID])], [r3, r1, r2], 2)
    assert got == [e for e in entries if e[0] is None or 30 <= e[0] <= 40 or e[0] > 50]
    got = select(cluster, [index_scan(IDX_AGE, [AGE, ID], desc=True)], [r3, r1, r2], 2)
    assert got == [e for e in entries if e[0] is None or 30 <= e[0] <= 40 or e[0] > 50][::-1]
    # The updated row moved in the index; the old entry is gone.
    assert (99, 5) in entries and (rows[5][AGE], 5) == (99, 5)


def test_index_scan_unique(cluster):
    rows = cluster["rows"]
    named = sorted((r[NAME], h) for h, r in rows.items() if r[NAME] is not None)
    nulls = sorted((None, h) for h, r in rows.items() if r[NAME] is None)
    assert nulls, "the data should hold NULL names"
    full = [codec.full_index_range(TABLE_ID, IDX_NAME)]
    assert select(cluster, [index_scan(IDX_NAME, [NAME, ID])], full, 2) == nulls + named
    # WHERE name = '...' for two names: point ranges, unique = true (the handle is in the value).
    (n1, h1), (n2, h2) = named[3], named[-2]
    points = sorted([codec.index_range(TABLE_ID, IDX_NAME, [n1], [n1]), codec.index_range(TABLE_ID, IDX_NAME, [n2], [n2])])
    assert select(cluster, [index_scan(IDX_NAME, [NAME, ID], unique=True)], points, 2) == [(n1, h1), (n2, h2)]
    assert select(cluster, [index_scan(IDX_NAME, [NAME, ID], desc=True, unique=True)], points, 2) == [(n2, h2), (n1, h1)]


# ---------------------------------------------------------------- selection

def sql_and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def sql_or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def gt(a, b):
    return None if a is None or b is None else a > b


CONDITIONS = {
    # WHERE age > 30
    "age > 30": (lambda o: func("GTInt", col(o[AGE], AGE), const(30)),
                 lambda r: gt(r[AGE], 30)),
    # WHERE name LIKE 'a%'  (the escape is the third argument, '\\')
    "name like 'a%'": (lambda o: func("LikeSig", col(o[NAME], NAME), const(b"a%"), const(92)),
                       lambda r: None if r[NAME] is None else r[NAME].startswith(b"a")),
    "name like '_li%'": (lambda o: func("LikeSig", col(o[NAME], NAME), const(b"_li%"), const(92)),
                         lambda r: None if r[NAME] is None else r[NAME][1:3] == b"li"),
    # WHERE age IS NULL / score IS NULL / name IS NULL
    "age is null": (lambda o: func("IntIsNull", col(o[AGE], AGE)), lambda r: r[AGE] is None),
    "score is null": (lambda o: func("RealIsNull", col(o[SCORE], SCORE)), lambda r: r[SCORE] is None),
    # WHERE (age > 30 AND score < 50) OR name IS NULL
    "(age > 30 and score < 50) or name is null": (
        lambda o: func("LogicalOr", func("LogicalAnd", func("GTInt", col(o[AGE], AGE), const(30)),
                                         func("LTReal", col(o[SCORE], SCORE), const(50.0))),
                       func("StringIsNull", col(o[NAME], NAME))),
        lambda r: sql_or(sql_and(gt(r[AGE], 30), None if r[SCORE] is None else r[SCORE] < 50), r[NAME] is None)),
    # WHERE NOT (age IN (20, 25, 30, 35))
    "age not in (...)": (
        lambda o: func("UnaryNotInt", func("InInt", col(o[AGE], AGE), const(20), const(25), const(30), const(35))),
        lambda r: None if r[AGE] is None else r[AGE] not in (20, 25, 30, 35)),
    # WHERE IFNULL(age, 0) + 1 > 40
    "ifnull(age, 0) + 1 > 40": (
        lambda o: func("GTInt", func("PlusInt", func("IfNullInt", col(o[AGE], AGE), const(0), ft=INT_FT), const(1), ft=INT_FT), const(40)),
        lambda r: (r[AGE] or 0) + 1 > 40),
    # WHERE LENGTH(name) = 6
    "length(name) = 6": (lambda o: func("EQInt", func("Length", col(o[NAME], NAME), ft=INT_FT), const(6)),
                         lambda r: None if r[NAME] is None else len(r[NAME]) == 6),
    # WHERE city = 'x' (old rows get the column's default)
    "city = 'x'": (lambda o: func("EQString", col(o[CITY], CITY), const(b"x")),
                   lambda r: None if r[CITY] is None else r[CITY] == b"x"),
    # WHERE score >= 50
    "score >= 50": (lambda o: func("GEReal", col(o[SCORE], SCORE), const(50.0)),
                          lambda r: None if r[SCORE] is None else r[SCORE] >= 50.0),
}


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_selection(cluster, name):
    rows = cluster["rows"]
    build, want = CONDITIONS[name]
    offsets = {c: i for i, c in enumerate(ALL)}
    got = select(cluster, [table_scan(ALL), selection(build(offsets))], FULL_TABLE, 6)
    expected = [project(r, ALL) for r in by_handle(rows) if want(r) is True]
    assert got == expected
    assert 0 < len(expected) < len(rows), "the condition should keep some rows and drop others"


def test_selection_with_several_conditions_over_an_index_scan(cluster):
    rows = cluster["rows"]
    # Index scan (age, id) WHERE age > 30 AND id < 60 (both conditions must hold), ordered by the index.
    conds = [func("GTInt", col(0, AGE), const(30)), func("LTInt", col(1, ID), const(60))]
    got = select(cluster, [index_scan(IDX_AGE, [AGE, ID]), selection(*conds)],
                 [codec.full_index_range(TABLE_ID, IDX_AGE)], 2)
    want = sorted((r[AGE], h) for h, r in rows.items() if r[AGE] is not None and r[AGE] > 30 and h < 60)
    assert got == want


# ---------------------------------------------------------------- aggregation

def group_rows(rows, key):
    groups = {}
    for r in by_handle(rows):
        groups.setdefault(key(r), []).append(r)
    return groups


def non_null(values):
    return [v for v in values if v is not None]


def test_hash_aggregation_with_group_by_partial_layout(cluster):
    rows = cluster["rows"]
    o = {c: i for i, c in enumerate(ALL)}
    # SELECT count(*), count(age), sum(age), avg(score), min(name), max(price), avg(price), city ... GROUP BY city
    funcs = [agg("Count", const(1)), agg("Count", col(o[AGE], AGE)),
             agg("Sum", col(o[AGE], AGE), ft=field_type(T_NEWDECIMAL, BINARY, 32, 0)),
             agg("Avg", col(o[SCORE], SCORE), ft=field_type(T_DOUBLE, BINARY, 22, -1)),
             agg("Min", col(o[NAME], NAME), ft=field_type(T_VARCHAR, 0, 32, 0, COLLATE_UTF8MB4_BIN)),
             agg("Max", col(o[PRICE], PRICE), ft=field_type(T_NEWDECIMAL, 0, 8, 2)),
             agg("Avg", col(o[PRICE], PRICE), ft=field_type(T_NEWDECIMAL, BINARY, 12, 6))]
    # Partial results: count | count | sum | avg = (count, sum) | min | max | avg = (count, sum) | city
    width = 1 + 1 + 1 + 2 + 1 + 1 + 2 + 1
    got = select(cluster, [table_scan(ALL), aggregation(funcs, [col(o[CITY], CITY)])], FULL_TABLE, width)
    groups = group_rows(rows, lambda r: r[CITY])
    assert len(got) == len(groups)
    by_city = {g[-1]: g for g in got}
    for city, members in groups.items():
        g = by_city[city]
        ages, scores = non_null(r[AGE] for r in members), non_null(r[SCORE] for r in members)
        names, prices = non_null(r[NAME] for r in members), non_null(r[PRICE] for r in members)
        assert g[0] == len(members)
        assert g[1] == len(ages)
        assert g[2] == (D(sum(ages)) if ages else None) and (g[2] is None or isinstance(g[2], D)), g
        assert g[3] == len(scores)
        assert g[4] == (pytest.approx(sum(scores)) if scores else None) and (g[4] is None or isinstance(g[4], float))
        assert g[5] == (min(names) if names else None)
        assert g[6] == (max(prices) if prices else None)
        assert g[7] == len(prices)
        assert g[8] == (sum(prices) if prices else None)


def test_aggregation_grouped_by_two_items_one_an_expression(cluster):
    rows = cluster["rows"]
    o = {c: i for i, c in enumerate(ALL)}
    # SELECT avg(age), count(score), city, age > 30 ... GROUP BY city, age > 30
    funcs = [agg("Avg", col(o[AGE], AGE), ft=field_type(T_NEWDECIMAL, BINARY, 15, 4)), agg("Count", col(o[SCORE], SCORE))]
    group_by = [col(o[CITY], CITY), func("GTInt", col(o[AGE], AGE), const(30))]
    got = select(cluster, [table_scan(ALL), aggregation(funcs, group_by)], FULL_TABLE, 5)
    groups = group_rows(rows, lambda r: (r[CITY], None if r[AGE] is None else int(r[AGE] > 30)))
    assert len(groups) >= 8
    want = {}
    for (city, older), members in groups.items():
        ages = non_null(r[AGE] for r in members)
        want[(city, older)] = (len(ages), D(sum(ages)) if ages else None, len(non_null(r[SCORE] for r in members)), city, older)
    assert {(g[3], g[4]): g for g in got} == want
    assert len(got) == len(want)


def test_aggregation_without_group_by_and_stream_agg(cluster):
    rows = cluster["rows"]
    o = {c: i for i, c in enumerate(ALL)}
    funcs = [agg("Count", const(1)), agg("Sum", col(o[PRICE], PRICE), ft=field_type(T_NEWDECIMAL, BINARY, 32, 2)),
             agg("Min", col(o[AGE], AGE)), agg("Max", col(o[SCORE], SCORE), ft=field_type(T_DOUBLE, 0, 22, -1))]
    prices = non_null(r[PRICE] for r in rows.values())
    want = [(len(rows), sum(prices), min(non_null(r[AGE] for r in rows.values())),
             max(non_null(r[SCORE] for r in rows.values())))]
    for stream in (False, True):
        assert select(cluster, [table_scan(ALL), aggregation(funcs, stream=stream)], FULL_TABLE, 4) == want
    # SELECT age, count(*) FROM t USE INDEX (idx_age) GROUP BY age: stream aggregation over the index order.
    got = select(cluster, [index_scan(IDX_AGE, [AGE]), aggregation([agg("Count", const(1))], [col(0, AGE)], stream=True)],
                 [codec.full_index_range(TABLE_ID, IDX_AGE)], 2)
    counts = {}
    for r in rows.values():
        counts[r[AGE]] = counts.get(r[AGE], 0) + 1
    assert got == [(counts[a], a) for a in sorted(counts, key=null_first)]


def test_aggregation_after_selection_with_first_row(cluster):
    rows = cluster["rows"]
    o = {c: i for i, c in enumerate(ALL)}
    # SELECT age, sum(score) FROM t WHERE age > 40 GROUP BY age  -> the group column comes back by First too.
    funcs = [agg("Sum", col(o[SCORE], SCORE), ft=field_type(T_DOUBLE, BINARY, 22, -1)), agg("First", col(o[AGE], AGE))]
    got = select(cluster, [table_scan(ALL), selection(func("GTInt", col(o[AGE], AGE), const(40))),
                           aggregation(funcs, [col(o[AGE], AGE)])], FULL_TABLE, 3)
    groups = group_rows({h: r for h, r in rows.items() if r[AGE] is not None and r[AGE] > 40}, lambda r: r[AGE])
    assert sorted(got, key=lambda g: g[2]) == [
        (pytest.approx(sum(non_null(r[SCORE] for r in m))) if non_null(r[SCORE] for r in m) else None, a, a)
        for a, m in sorted(groups.items())]


# ---------------------------------------------------------------- TopN and Limit

def test_topn(cluster):
    rows = cluster["rows"]
    o = {c: i for i, c in enumerate(ALL)}
    # ORDER BY score DESC, id LIMIT 10 (NULL is the smallest value: last when descending)
    got = select(cluster, [table_scan(ALL), topn(10, (col(o[SCORE], SCORE), True), (col(o[ID], ID), False))], FULL_TABLE, 6)
    want = sorted(rows.values(), key=lambda r: (r[SCORE] is not None, r[SCORE] or 0, -r[ID]), reverse=True)[:10]
    assert got == [project(r, ALL) for r in want]
    # WHERE age > 30 ORDER BY age, name DESC LIMIT 7
    got = select(cluster, [table_scan(ALL), selection(func("GTInt", col(o[AGE], AGE), const(30))),
                           topn(7, (col(o[AGE], AGE), False), (col(o[NAME], NAME), True))], FULL_TABLE, 6)
    kept = [r for r in by_handle(rows) if r[AGE] is not None and r[AGE] > 30]
    kept.sort(key=lambda r: null_first(r[NAME]), reverse=True)
    kept.sort(key=lambda r: r[AGE])
    assert got == [project(r, ALL) for r in kept[:7]]
    # ORDER BY age LIMIT 5: NULL ages first.
    got = select(cluster, [table_scan(ALL), topn(5, (col(o[AGE], AGE), False))], FULL_TABLE, 2, output_offsets=[2, 0])
    assert [g[0] for g in got] == sorted((r[AGE] for r in rows.values()), key=null_first)[:5]
    assert got[0][0] is None
    # ORDER BY id DESC LIMIT 18446744073709551615 (MySQL's "all rows"): every row, and the store survives.
    got = select(cluster, [table_scan([ID]), topn((1 << 64) - 1, (col(0, ID), True))], FULL_TABLE, 1)
    assert got == [(h,) for h in sorted(rows, reverse=True)]
    assert select(cluster, [table_scan([ID]), limit((1 << 64) - 1)], FULL_TABLE, 1) == [(h,) for h in sorted(rows)]


def test_limit(cluster):
    rows = cluster["rows"]
    assert select(cluster, [table_scan([ID, NAME]), limit(5)], FULL_TABLE, 2) == \
        [project(r, [ID, NAME]) for r in by_handle(rows)[:5]]
    assert select(cluster, [table_scan([ID, NAME], desc=True), limit(3)], FULL_TABLE, 2) == \
        [project(r, [ID, NAME]) for r in by_handle(rows, desc=True)[:3]]
    # WHERE age IS NULL LIMIT 2 over the index
    got = select(cluster, [index_scan(IDX_AGE, [AGE, ID]), selection(func("IntIsNull", col(0, AGE))), limit(2)],
                 [codec.full_index_range(TABLE_ID, IDX_AGE)], 2)
    assert got == sorted((None, h) for h, r in rows.items() if r[AGE] is None)[:2]
    assert select(cluster, [table_scan([ID]), limit(0)], FULL_TABLE, 1) == []


# ---------------------------------------------------------------- locks and errors

def test_lock_in_range_is_reported_then_gone_after_rollback(cluster):
    client = cluster["client"]
    key = codec.row_key(TABLE_ID, 1000)
    before = client.ts()
    lock_ts = client.ts()
    r = client.kv.KvPrewrite(kv.PrewriteRequest(
        mutations=[kv.Mutation(op=kv.Put, key=key, value=row_value({ID: 1000, NAME: b"zed", AGE: 1, SCORE: 1.0, PRICE: D("1.00"), CITY: b"bj"}))],
        primary_lock=key, start_version=lock_ts, lock_ttl=5000))
    assert not r.errors
    try:
        resp = send(cluster, [table_scan(ALL)], FULL_TABLE)
        assert resp.HasField("locked"), resp
        assert resp.locked.key == key and resp.locked.primary_lock == key and resp.locked.lock_version == lock_ts
        assert resp.locked.lock_ttl == 5000  # TinySQL's lock resolver checks the TTL
        assert not resp.other_error
        # A range without the key, and a read older than the lock, do not see it.
        assert len(select(cluster, [table_scan([ID])], [codec.handle_range(TABLE_ID, 1, 999)], 1)) > 0
        assert select(cluster, [table_scan([ID])], FULL_TABLE, 1, start_ts=before) == [(h,) for h in sorted(cluster["rows"])]
        desc = send(cluster, [table_scan(ALL, desc=True)], FULL_TABLE)
        assert desc.HasField("locked") and desc.locked.key == key
    finally:
        rb = client.kv.KvBatchRollback(kv.BatchRollbackRequest(start_version=lock_ts, keys=[key]))
        assert not rb.HasField("error")
    assert select(cluster, [table_scan([ID])], FULL_TABLE, 1) == [(h,) for h in sorted(cluster["rows"])]


def test_unsupported_and_malformed_requests_get_other_error_and_the_store_keeps_serving(cluster):
    scan = [table_scan([ID])]
    cases = {
        "unknown tp": dict(tp=1234),
        "legacy select tp": dict(tp=101),
        "analyze": dict(tp=104, data=b"\x08\x01"),
        "malformed data": dict(data=b"\xff\xff\xff\xff"),
        "truncated DAG": dict(data=tipb.DAGRequest(executors=scan).SerializeToString()[:-3]),
        "no executors": dict(data=tipb.DAGRequest(start_ts_fallback=1).SerializeToString()),
    }
    for name, kw in cases.items():
        resp = send(cluster, scan, FULL_TABLE, **kw)
        assert resp.other_error, name
        assert not resp.data or not tipb.SelectResponse.FromString(resp.data).chunks, name
    # A function and an aggregate this store does not evaluate; a column offset outside the row.
    bad = [
        [table_scan(ALL), selection(func("JsonTypeSig", col(1, NAME), ft=field_type(T_VARCHAR)))],
        [table_scan(ALL), aggregation([agg("GroupConcat", col(1, NAME))])],
        [table_scan(ALL), selection(func("GTInt", col(17, AGE), const(1)))],
        [table_scan(ALL), limit(1), tipb.Executor(tp=tipb.TypeTableScan, tbl_scan=tipb.TableScan(table_id=TABLE_ID))],
    ]
    for executors in bad:
        resp = send(cluster, executors, FULL_TABLE)
        assert resp.other_error or tipb.SelectResponse.FromString(resp.data).HasField("error"), executors
    assert cluster["store"].proc.poll() is None
    assert select(cluster, scan, FULL_TABLE, 1) == [(h,) for h in sorted(cluster["rows"])]


def test_evaluation_overflow_is_an_error_in_the_select_response(cluster):
    o = {c: i for i, c in enumerate(ALL)}
    # WHERE age + 9223372036854775807 > 0: BIGINT overflow for any non-NULL age.
    resp = send(cluster, [table_scan(ALL), selection(func("GTInt", func("PlusInt", col(o[AGE], AGE), const((1 << 63) - 1), ft=INT_FT), const(0)))],
                FULL_TABLE)
    assert not resp.other_error and not resp.HasField("locked")
    sel = tipb.SelectResponse.FromString(resp.data)
    assert sel.HasField("error") and sel.error.msg, sel
    assert cluster["store"].proc.poll() is None


# ---------------------------------------------------------------- hidden row ids and unsigned handles

EXTRA_HANDLE_ID = -1  # model.ExtraHandleID: the hidden _tidb_rowid of a table without an integer primary key


def extra_handle_info():
    return tipb.ColumnInfo(column_id=EXTRA_HANDLE_ID, tp=T_LONGLONG, collation=COLLATE_BIN, columnLen=20,
                           decimal=0, flag=PRI_KEY | NOT_NULL)


def test_table_without_integer_primary_key_uses_the_hidden_row_id(cluster):
    # CREATE TABLE u (a INT, b VARCHAR(10), KEY ia (a)): rows keyed by _tidb_rowid.
    tid, ia = 72, 1
    cols = {1: dict(flen=11, decimal=0), 2: dict(flen=10, decimal=0)}
    rows = {rid: (None if rid % 7 == 0 else rid % 5, f"b{rid}".encode()) for rid in range(1, 41)}
    muts = []
    for rid, (a, b) in rows.items():
        muts.append((kv.Put, codec.row_key(tid, rid), codec.encode_row(cols, {1: a, 2: b})))
        muts.append((kv.Put, codec.index_key(tid, ia, [a], rid), codec.NON_UNIQUE_INDEX_VALUE))
    commit(cluster["client"], muts)
    a_info = tipb.ColumnInfo(column_id=1, tp=T_LONG, collation=COLLATE_BIN, columnLen=11, flag=MULTIPLE_KEY)
    b_info = tipb.ColumnInfo(column_id=2, tp=T_VARCHAR, collation=COLLATE_UTF8MB4_BIN, columnLen=10)
    full = [codec.handle_range(tid, -(1 << 63), (1 << 63) - 1)]
    scan = tipb.Executor(tp=tipb.TypeTableScan, tbl_scan=tipb.TableScan(table_id=tid, columns=[a_info, b_info, extra_handle_info()]))
    assert select(cluster, [scan], full, 3) == [(a, b, rid) for rid, (a, b) in sorted(rows.items())]
    # The index side of an index lookup: (a, _tidb_rowid) from the key.
    iscan = tipb.Executor(tp=tipb.TypeIndexScan, idx_scan=tipb.IndexScan(table_id=tid, index_id=ia, columns=[a_info, extra_handle_info()]))
    prefix = codec.index_prefix(tid, ia)
    got = select(cluster, [iscan], [(prefix + b"\x00", prefix + codec.prefix_next(bytes([codec.MAX_FLAG])))], 2)
    assert got == sorted(((a, rid) for rid, (a, _) in rows.items()), key=lambda e: (null_first(e[0]), e[1]))


def test_unsigned_integer_primary_key(cluster):
    # CREATE TABLE w (id BIGINT UNSIGNED PRIMARY KEY, v INT UNSIGNED): handles are the id's 64 bits as int64.
    tid = 73
    ids = [0, 1, 2, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
    cols = {2: dict(flen=10, decimal=0)}
    muts = [(kv.Put, codec.row_key(tid, i - (1 << 64) if i >= 1 << 63 else i), codec.encode_row(cols, {2: codec.Uint(i % 4_000_000_000)}))
            for i in ids]
    commit(cluster["client"], muts)
    id_info = tipb.ColumnInfo(column_id=1, tp=T_LONGLONG, collation=COLLATE_BIN, columnLen=20, flag=PRI_KEY | NOT_NULL | 32, pk_handle=True)
    v_info = tipb.ColumnInfo(column_id=2, tp=T_LONG, collation=COLLATE_BIN, columnLen=10, flag=32)
    scan = tipb.Executor(tp=tipb.TypeTableScan, tbl_scan=tipb.TableScan(table_id=tid, columns=[id_info, v_info]))
    got = select(cluster, [scan], [codec.handle_range(tid, -(1 << 63), (1 << 63) - 1)], 2)
    # Key order is the signed order of the 64 bits: ids >= 2^63 first.
    want = sorted(ids, key=lambda i: i - (1 << 64) if i >= 1 << 63 else i)
    assert got == [(i, i % 4_000_000_000) for i in want]
    assert all(isinstance(g[0], codec.Uint) and isinstance(g[1], codec.Uint) for g in got)
