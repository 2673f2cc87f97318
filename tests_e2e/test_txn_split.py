"""Transactional data in small regions, with real processes: 1 scheduler + 3 raft stores.

A TinySQL table (rows with a wide column, and a non-unique index) is written through Percolator
transactions routed as TinySQL routes them: each key's region is found by `EncodeBytes(key)`
and multi-key requests are split by region. With `region-split-size = 64KiB` the region splits
many times. Then, as TinySQL's `pd_codec` would: every region boundary from `ScanRegions`
(except the empty ones) decodes with `DecodeBytes` to a whole key, the regions tile the key
space, and `GetRegion(EncodeBytes(key))` finds a region whose decoded range holds the key.
Every row is readable with KvGet and KvScan through that routing, and a table scan pushed to
the coprocessor as one request per region, with the key ranges clipped to each region's decoded
bounds (TinySQL's `SplitRegionRanges`), returns every row exactly once.
"""
import time

import coprocessor_pb2 as copr
import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd
from tipb import tipb_pb2 as tipb

import tinysql_codec as codec
from test_raft_cluster import Cluster
from test_split import SPLIT_CONFIG, Router, ctl_json, scan_regions, tiles

TABLE_ID = 91
IDX_AGE = 1
ROWS = 700
PAD = 1500                                      # bytes of the wide column: ~1 MiB of rows in all
ID, AGE, PAD_COL = 1, 2, 3
T_LONG, T_VARCHAR, T_LONGLONG = 3, 15, 8
PRI_KEY, NOT_NULL, BINARY = 2, 1, 128
COLUMNS = {
    ID: dict(tp=T_LONG, flag=PRI_KEY | NOT_NULL, flen=11, decimal=0, collation=63),
    AGE: dict(tp=T_LONG, flag=0, flen=11, decimal=0, collation=63),
    PAD_COL: dict(tp=T_VARCHAR, flag=0, flen=PAD, decimal=0, collation=46),
}


def ts(cluster):
    r = next(cluster.pd_stub.Tso(iter([pd.TsoRequest(header=cluster.header(), count=1)])))
    return (r.timestamp.physical << 18) + r.timestamp.logical


def row_mutations(handle):
    age = handle % 50
    value = codec.encode_row(COLUMNS, {AGE: age, PAD_COL: (b"%06d" % handle) * (PAD // 6)})
    return [(codec.row_key(TABLE_ID, handle), value),
            (codec.index_key(TABLE_ID, IDX_AGE, [age], handle), codec.NON_UNIQUE_INDEX_VALUE)]


def commit(cluster, router, writes):
    """Percolator 2PC with requests grouped by region (encoded keys): prewrite, primary, secondaries."""
    start = ts(cluster)
    keys = sorted(writes)
    primary = keys[0]
    for r in router.call_grouped("KvPrewrite", keys, lambda ctx, group: kv.PrewriteRequest(
            context=ctx, mutations=[kv.Mutation(op=kv.Put, key=k, value=writes[k]) for k in group],
            primary_lock=primary, start_version=start, lock_ttl=30000)):
        assert not r.errors, r.errors
    commit_ts = ts(cluster)
    r = router.call("KvCommit", primary, lambda ctx: kv.CommitRequest(
        context=ctx, start_version=start, keys=[primary], commit_version=commit_ts), space="txn")
    assert not r.HasField("error"), r
    for r in router.call_grouped("KvCommit", keys[1:], lambda ctx, group: kv.CommitRequest(
            context=ctx, start_version=start, keys=group, commit_version=commit_ts)):
        assert not r.HasField("error"), r


def decoded_bounds(region):
    """pd_codec's decodeRegionMetaKey: DecodeBytes on non-empty bounds; here nothing may be left over."""
    out = []
    for bound in (region.start_key, region.end_key):
        if not bound:
            out.append(b"")
            continue
        key, rest = codec.decode_bytes(bound)
        assert rest == b"", f"boundary {bound!r} has {rest!r} after its encoded key"
        out.append(key)
    return out


def pd_codec_region(cluster, key):
    """TinySQL's GetRegion: ask with EncodeBytes(key), decode the answer's bounds."""
    r = cluster.pd_stub.GetRegion(pd.GetRegionRequest(header=cluster.header(), region_key=codec.encode_bytes_cmp(key)))
    start, end = decoded_bounds(r.region)
    return r.region, start, end


def kv_scan_all(cluster, router, start_key, end_key, version):
    """KvScan region by region as TinySQL's scanner does: each region's answer cut at its decoded end."""
    keys, start = [], start_key
    while start < end_key:
        region, _, region_end = pd_codec_region(cluster, start)
        r = router.call("KvScan", start, lambda ctx: kv.ScanRequest(context=ctx, start_key=start, limit=10000, version=version),
                        space="txn")
        for pair in r.pairs:
            assert not pair.HasField("error"), pair
            if (region_end and pair.key >= region_end) or pair.key >= end_key:
                break
            keys.append(pair.key)
        if not region_end:
            break
        start = region_end
    return keys


def table_scan_request(ranges, start_ts):
    columns = [tipb.ColumnInfo(column_id=cid, tp=c["tp"], collation=c["collation"], columnLen=c["flen"],
                               decimal=c["decimal"], flag=c["flag"], pk_handle=cid == ID) for cid, c in COLUMNS.items()
               if cid != PAD_COL]
    dag = tipb.DAGRequest(start_ts_fallback=start_ts, time_zone_offset=0, flags=0, encode_type=tipb.TypeDefault,
                          executors=[tipb.Executor(tp=tipb.TypeTableScan, tbl_scan=tipb.TableScan(table_id=TABLE_ID, columns=columns))])
    return dag.SerializeToString(), [copr.KeyRange(start=s, end=e) for s, e in ranges]


def coprocessor_by_region(cluster, router, key_range, start_ts):
    """distsql as TinySQL runs it: split the range at region boundaries (decoded), one request per region."""
    start, end = key_range
    rows, requests = [], 0
    while start < end:
        region, region_start, region_end = pd_codec_region(cluster, start)
        clipped_end = end if not region_end or end < region_end else region_end
        data, ranges = table_scan_request([(max(start, region_start), clipped_end)], start_ts)
        r = router.call("Coprocessor", start, lambda ctx: copr.Request(context=ctx, tp=103, data=data, start_ts=start_ts,
                                                                         ranges=ranges), space="txn")
        assert not r.other_error and not r.HasField("locked"), r
        requests += 1
        sel = tipb.SelectResponse.FromString(r.data)
        assert not sel.HasField("error"), sel.error
        for chunk in sel.chunks:
            rows += codec.decode_rows(chunk.rows_data, 2)
        start = clipped_end
    return rows, requests


def test_transactional_splits_decode_and_route(workdir):
    cluster = Cluster(workdir)
    (workdir / "store.toml").write_text(SPLIT_CONFIG)
    try:
        for index in range(3):
            cluster.start_store(index)
        cluster.wait_replicas(3)
        router = Router(cluster)
        for first in range(0, ROWS, 25):
            writes = {}
            for handle in range(first, min(first + 25, ROWS)):
                writes.update(dict(row_mutations(handle)))
            commit(cluster, router, writes)

        deadline = time.time() + 30
        while True:
            regions = scan_regions(cluster)
            if len(regions) >= 6 and all(len(r.peers) == 3 for r in regions) and tiles(regions):
                break
            assert time.time() < deadline, f"{len(regions)} regions, tiling: {tiles(regions)}"
            time.sleep(0.2)
        print(f"{len(regions)} regions after writing {ROWS} rows")
        # Every boundary is EncodeBytes(a key): the regions tile the decoded key space too.
        decoded = sorted(decoded_bounds(r) for r in regions)
        assert decoded[0][0] == b"" and decoded[-1][1] == b""
        assert all(a[1] == b[0] for a, b in zip(decoded, decoded[1:]))
        assert all(start.startswith(b"t") for start, _ in decoded[1:]), "split keys are table keys"
        # tinykv-ctl shows the decoded boundaries.
        listed = ctl_json(cluster, "region", "list")
        assert len(listed) >= len(regions)
        assert all((r["start_key"] == "") == (r["start_key_decoded"] is None) for r in listed), listed
        assert all((r["end_key"] == "") == (r["end_key_decoded"] is None) for r in listed), listed

        version = ts(cluster)
        row_keys = [codec.row_key(TABLE_ID, h) for h in range(ROWS)]
        for handle, key in enumerate(row_keys):
            _, start, end = pd_codec_region(cluster, key)
            assert start <= key and (not end or key < end)
            r = router.call("KvGet", key, lambda ctx, k=key: kv.GetRequest(context=ctx, key=k, version=version), space="txn")
            assert not r.HasField("error") and not r.not_found, (handle, r)
            assert r.value == dict(row_mutations(handle))[key]
        # tinykv-ctl routes transactional keys the same way (region show --txn, txn get).
        for handle in (0, ROWS // 2, ROWS - 1):
            key = row_keys[handle]
            shown = ctl_json(cluster, "region", "show", "--txn", "--hex", key.hex())
            assert shown["id"] == pd_codec_region(cluster, key)[0].id
            got = ctl_json(cluster, "txn", "get", "--hex", key.hex())
            assert got["found"] and bytes.fromhex(got["value"]) == dict(row_mutations(handle))[key]
        # One transaction across regions through tinykv-ctl (the Swift Percolator client: concurrent
        # prewrites per region, the primary committed with its region's keys, then the others).
        spread = [row_keys[0], row_keys[1], row_keys[ROWS // 2], row_keys[ROWS - 1]]
        assert len({pd_codec_region(cluster, k)[0].id for k in spread}) >= 2
        pairs = []
        for i, key in enumerate(spread):
            pairs += [key.hex(), f"cross-{i}".encode().hex()]
        ctl_json(cluster, "txn", "put", "--hex", *pairs)
        for i, key in enumerate(spread):
            got = ctl_json(cluster, "txn", "get", "--hex", key.hex())
            assert got["found"] and bytes.fromhex(got["value"]) == f"cross-{i}".encode(), (i, got)
        # Later reads below expect the original rows: write them back in one more transaction.
        pairs = []
        for key, handle in zip(spread, (0, 1, ROWS // 2, ROWS - 1)):
            pairs += [key.hex(), dict(row_mutations(handle))[key].hex()]
        ctl_json(cluster, "txn", "put", "--hex", *pairs)
        version = ts(cluster)
        prefix = codec.record_prefix(TABLE_ID)
        assert kv_scan_all(cluster, router, prefix, codec.prefix_next(prefix), version) == sorted(row_keys)
        index_prefix = codec.index_prefix(TABLE_ID, IDX_AGE)
        assert len(kv_scan_all(cluster, router, index_prefix, codec.prefix_next(index_prefix), version)) == ROWS

        rows, requests = coprocessor_by_region(cluster, router, codec.handle_range(TABLE_ID, -(1 << 63), (1 << 63) - 1), version)
        assert requests >= 3, f"the table spans {requests} regions"
        assert sorted(rows) == [(h, h % 50) for h in range(ROWS)]
        print(f"coprocessor: {len(rows)} rows from {requests} regions")

        # Region id 0 (no routing by the client): a store routes a point read to its local region.
        address = cluster.store_address(pd_codec_region(cluster, row_keys[0])[0].peers[0].store_id)
        r = cluster.stub(address).KvGet(kv.GetRequest(key=row_keys[0], version=version))
        assert r.HasField("region_error") or r.value == dict(row_mutations(0))[row_keys[0]], r
        # ... and refuses a request whose keys span regions.
        last = codec.row_key(TABLE_ID, ROWS - 1)
        r = cluster.stub(address).KvBatchRollback(kv.BatchRollbackRequest(start_version=1, keys=[row_keys[0], last]))
        assert r.HasField("region_error"), r
    finally:
        cluster.stop_all()
