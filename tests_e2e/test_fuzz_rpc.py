"""Fuzzing every RPC handler of a real tinykv-server (standalone) and tinyscheduler-server.

Random requests built from the proto descriptors (edge-case keys, unknown column families,
wrong region ids and epochs, absurd timestamps, limits of 0 and 2^32-1), mutated encodings
of them, and random bytes are sent to every method. Each call must end with a response or
a gRPC status other than DEADLINE_EXCEEDED/UNAVAILABLE (a hang or a crash) within its
timeout, and the server must still answer normal requests afterwards.

TINYKV_RPC_FUZZ_SECONDS sets the time per server (default 12), TINYKV_RPC_FUZZ_SEED the seed.
"""
import collections
import os
import random
import time

import grpc
import pytest
from google.protobuf import descriptor as D

import kvrpcpb_pb2 as kv
import schedulerpb_pb2 as pd
import schedulerpb_pb2_grpc  # noqa: F401  (registers the service descriptor)
import coprocessor_pb2
import tinykvpb_pb2
from tipb import tipb_pb2 as tipb
import tinykvpb_pb2_grpc  # noqa: F401

from conftest import BIN, Process, free_port, wait_port

SECONDS = float(os.environ.get("TINYKV_RPC_FUZZ_SECONDS", "12"))
SEED = int(os.environ.get("TINYKV_RPC_FUZZ_SEED", str(int(time.time()))))
CALL_TIMEOUT = 10.0
BAD_CODES = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}

U64 = [0, 1, 2, 100, 2**31, 2**32 - 1, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
U32 = [0, 1, 2, 100, 10240, 10241, 2**31 - 1, 2**31, 2**32 - 1]
I64 = [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31)]
CFS = ["", "default", "lock", "write", "nope", "DEFAULT", "raft", "\x00", "é世🙂"]


class Gen:
    def __init__(self, rng):
        self.rng = rng

    def key(self):
        r = self.rng.random()
        if r < 0.15:
            return b""
        if r < 0.55:
            return b"k%d" % self.rng.randrange(40)
        if r < 0.7:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40)))
        if r < 0.8:
            return b"\xff" * self.rng.choice([1, 8, 9, 64])
        if r < 0.9:
            return b"x" * self.rng.choice([8191, 8192, 8193, 65536])
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(100, 600)))

    def value(self):
        r = self.rng.random()
        if r < 0.1:
            return b""
        if r < 0.95:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(0, 64)))
        return b"v" * self.rng.choice([1 << 16, (8 << 20) + 1])

    def scalar(self, field):
        t = field.type
        name = field.name
        if t == D.FieldDescriptor.TYPE_BYTES:
            return self.value() if "value" in name or name == "data" else self.key()
        if t == D.FieldDescriptor.TYPE_STRING:
            if name == "cf":
                return self.rng.choice(CFS)
            return self.rng.choice(["", "x", "127.0.0.1:1", "é世🙂" * 3, "a" * 300])
        if t == D.FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t == D.FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values]
            return self.rng.choice(values + [max(values) + 1, 1000])
        if t in (D.FieldDescriptor.TYPE_UINT64, D.FieldDescriptor.TYPE_FIXED64):
            return self.rng.choice(U64) if self.rng.random() < 0.6 else self.rng.randrange(2**64)
        if t in (D.FieldDescriptor.TYPE_UINT32, D.FieldDescriptor.TYPE_FIXED32):
            return self.rng.choice(U32) if self.rng.random() < 0.7 else self.rng.randrange(2**32)
        if t in (D.FieldDescriptor.TYPE_INT64, D.FieldDescriptor.TYPE_SINT64, D.FieldDescriptor.TYPE_SFIXED64):
            return self.rng.choice(I64)
        if t in (D.FieldDescriptor.TYPE_INT32, D.FieldDescriptor.TYPE_SINT32, D.FieldDescriptor.TYPE_SFIXED32):
            return self.rng.choice([0, 1, -1, 2**31 - 1, -(2**31)])
        if t in (D.FieldDescriptor.TYPE_DOUBLE, D.FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice([0.0, -1.0, 1e300 if t == D.FieldDescriptor.TYPE_DOUBLE else 1e30])
        raise AssertionError(f"unhandled field type {t} of {name}")

    def fill(self, msg, depth=0):
        for field in msg.DESCRIPTOR.fields:
            if self.rng.random() < 0.35:
                continue
            repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == D.FieldDescriptor.LABEL_REPEATED
            if field.type == D.FieldDescriptor.TYPE_MESSAGE:
                if depth >= 4:
                    continue
                if repeated:
                    for _ in range(self.rng.choice([0, 1, 2, 3, 20])):
                        self.fill(getattr(msg, field.name).add(), depth + 1)
                else:
                    self.fill(getattr(msg, field.name), depth + 1)
                    getattr(msg, field.name).SetInParent()
            elif repeated:
                for _ in range(self.rng.choice([0, 1, 2, 5])):
                    try:
                        getattr(msg, field.name).append(self.scalar(field))
                    except ValueError:
                        pass
            else:
                try:
                    setattr(msg, field.name, self.scalar(field))
                except ValueError:  # an unknown value of a closed (proto2) enum
                    setattr(msg, field.name, field.enum_type.values[0].number)
        return msg

    def mutate(self, data):
        data = bytearray(data)
        for _ in range(self.rng.randrange(1, 4)):
            op = self.rng.randrange(5)
            if op == 0 and data:
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                del data[self.rng.randrange(len(data) + 1):]
            elif op == 2:
                pos = self.rng.randrange(len(data) + 1)
                data[pos:pos] = bytes([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])  # a length past the end
            elif op == 3:
                pos = self.rng.randrange(len(data) + 1)
                data[pos:pos] = bytes([0x08] + [0xFF] * 10 + [0x01])  # an overlong varint
            else:
                pos = self.rng.randrange(len(data) + 1)
                data[pos:pos] = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 9)))
        return bytes(data)


class DagGen:
    """Structurally plausible DAG requests: a table or index scan of table 1, then random
    selections, aggregations, TopN and limits over random expression trees of every function."""

    MYSQL_TYPES = [1, 2, 3, 4, 5, 8, 9, 15, 246, 252, 253, 254, 7, 10, 12, 11, 16, 0, 255, 1000]
    AGGS = [3001, 3002, 3003, 3004, 3005, 3006, 3008, 3009, 3010]

    def __init__(self, rng):
        self.rng = rng
        self.sigs = [v.number for v in tipb.ScalarFuncSig.DESCRIPTOR.values]

    def int_val(self, n):
        import struct
        return struct.pack(">Q", (n ^ (1 << 63)) & (2**64 - 1))

    def field_type(self):
        return tipb.FieldType(tp=self.rng.choice(self.MYSQL_TYPES), flag=self.rng.choice([0, 1, 128, 2**32 - 1]),
                              flen=self.rng.choice([-1, 0, 11, 2**31 - 1]), decimal=self.rng.choice([-1, 0, 2, 30, 100]))

    def expr(self, columns, depth=0):
        r = self.rng.random()
        if depth >= 4 or r < 0.3:
            kind = self.rng.randrange(7)
            if kind == 0:
                return tipb.Expr(tp=201, val=self.int_val(self.rng.choice([0, 1, 2, columns, columns + 5, -1, 2**40])),
                                 field_type=self.field_type())
            if kind == 1:
                return tipb.Expr(tp=1, val=self.int_val(self.rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 42])))
            if kind == 2:
                return tipb.Expr(tp=2, val=self.int_val(self.rng.choice([0, 1, -1, 42])))
            if kind == 3:
                return tipb.Expr(tp=4, val=bytes(self.rng.randrange(256) for _ in range(self.rng.choice([0, 7, 8]))))
            if kind == 4:
                return tipb.Expr(tp=self.rng.choice([5, 6]), val=bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(12))))
            if kind == 5:
                return tipb.Expr(tp=0)
            return tipb.Expr(tp=self.rng.choice([102, 103, 104, 105, 106, 107, 108]),
                             val=bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(12))))
        children = [self.expr(columns, depth + 1) for _ in range(self.rng.choice([0, 1, 2, 2, 3, 4]))]
        return tipb.Expr(tp=10000, sig=self.rng.choice(self.sigs), children=children, field_type=self.field_type())

    def dag(self):
        columns = self.rng.randrange(0, 5)
        infos = [tipb.ColumnInfo(column_id=i + 1, tp=self.rng.choice(self.MYSQL_TYPES), pk_handle=(i == 0 and self.rng.random() < 0.5),
                                 flag=self.rng.choice([0, 2, 32]), decimal=self.rng.choice([0, 2, -1]))
                 for i in range(columns)]
        if self.rng.random() < 0.8:
            first = tipb.Executor(tp=0, tbl_scan=tipb.TableScan(table_id=1, columns=infos, desc=self.rng.random() < 0.2))
        else:
            first = tipb.Executor(tp=1, idx_scan=tipb.IndexScan(table_id=1, index_id=1, columns=infos))
        executors = [first]
        for _ in range(self.rng.choice([0, 1, 1, 2, 3])):
            kind = self.rng.randrange(4)
            if kind == 0:
                executors.append(tipb.Executor(tp=2, selection=tipb.Selection(
                    conditions=[self.expr(columns) for _ in range(self.rng.randrange(1, 3))])))
            elif kind == 1:
                aggs = [tipb.Expr(tp=self.rng.choice(self.AGGS), children=[self.expr(columns, 2)],
                                  field_type=self.field_type()) for _ in range(self.rng.randrange(0, 3))]
                executors.append(tipb.Executor(tp=self.rng.choice([3, 6]), aggregation=tipb.Aggregation(
                    group_by=[self.expr(columns, 2) for _ in range(self.rng.randrange(0, 2))], agg_func=aggs)))
            elif kind == 2:
                executors.append(tipb.Executor(tp=4, topN=tipb.TopN(
                    order_by=[tipb.ByItem(expr=self.expr(columns, 2), desc=self.rng.random() < 0.5)],
                    limit=self.rng.choice([0, 1, 10, 2**64 - 1]))))
            else:
                executors.append(tipb.Executor(tp=5, limit=tipb.Limit(limit=self.rng.choice([0, 1, 5, 2**64 - 1]))))
        return tipb.DAGRequest(executors=executors, start_ts_fallback=self.rng.choice([0, 100, 2**64 - 1]),
                               output_offsets=[self.rng.randrange(columns + (2 if self.rng.random() < 0.2 else 0))
                                               for _ in range(self.rng.randrange(4) if columns else 0)],
                               encode_type=self.rng.choice([0, 0, 1]))


def methods_of(service):
    from google.protobuf import descriptor_pool, message_factory
    svc = descriptor_pool.Default().FindServiceByName(service)
    return [(f"/{service}/{m.name}", m, message_factory.GetMessageClass(m.input_type)) for m in svc.methods]


def fuzz(channel, service, rng, seconds, stats, failures):
    gen = Gen(rng)
    methods = methods_of(service)
    identity = lambda b: b  # noqa: E731
    end = time.time() + seconds
    while time.time() < end:
        path, method, request_type = rng.choice(methods)
        kind = rng.random()
        if path.endswith("/Coprocessor") and kind < 0.8:
            # A DAG request with random executors and expressions inside (proto2: partial is fine).
            request = gen.fill(coprocessor_pb2.Request())
            request.tp = rng.choice([103, 103, 103, 104, 0, 2**63 - 1])
            if rng.random() < 0.7:
                request.data = DagGen(rng).dag().SerializePartialToString()
            else:
                request.data = gen.fill(tipb.DAGRequest()).SerializePartialToString()
            if rng.random() < 0.5:
                request.ranges.add(start=b"", end=b"\xff" * 16)
            request.start_ts = rng.choice([0, 50, 2**63, 2**64 - 1])
            payload = request.SerializeToString()
            how = "dag"
        elif kind < 0.6:
            payload = gen.fill(request_type()).SerializeToString()
            how = "random"
        elif kind < 0.85:
            payload = gen.mutate(gen.fill(request_type()).SerializeToString())
            how = "mutated"
        else:
            payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 10, 100])))
            how = "bytes"
        started = time.time()
        try:
            if method.client_streaming or method.server_streaming:
                count = rng.choice([0, 1, 3])
                extra = [gen.fill(request_type()).SerializeToString() for _ in range(count - 1)] if count else []
                requests = iter(([payload] if count else []) + extra)
                if method.client_streaming and method.server_streaming:
                    call = channel.stream_stream(path, request_serializer=identity, response_deserializer=identity)
                    for _ in call(requests, timeout=CALL_TIMEOUT):
                        pass
                elif method.client_streaming:
                    channel.stream_unary(path, request_serializer=identity, response_deserializer=identity)(
                        requests, timeout=CALL_TIMEOUT)
                else:
                    for _ in channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)(
                            payload, timeout=CALL_TIMEOUT):
                        pass
            else:
                response = channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(
                    payload, timeout=CALL_TIMEOUT)
                if path.endswith("/Coprocessor"):
                    r = coprocessor_pb2.Response.FromString(response)
                    stats["coprocessor " + ("error" if r.other_error or r.HasField("region_error") or r.locked.key
                                            else "data" if r.data else "empty")] += 1
            stats[(path, "OK")] += 1
        except grpc.RpcError as e:
            stats[(path, e.code().name)] += 1
            if e.code() in BAD_CODES:
                failures.append(f"{path} ({how}, {len(payload)} bytes, {time.time() - started:.1f}s): "
                                f"{e.code().name} {e.details()} payload={payload[:200].hex()}")
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    return  # the server is gone
        stats["total"] += 1


def seed_table_rows(stub):
    """Committed rows under table 1 (row keys t{1}_r{h}) with well-formed and garbage values."""
    import struct

    def row_key(handle):
        return b"t" + struct.pack(">Q", 1 ^ (1 << 63)) + b"_r" + struct.pack(">Q", handle ^ (1 << 63))

    # Row values: TiDB's old format (column id datum, value datum pairs), the new one (0x80 ...), garbage.
    values = [b"", b"\x08\x02\x08\x04", b"\x08\x02\x03\x80\x00\x00\x00\x00\x00\x00\x07\x08\x04\x02\x06abc",
              b"\x80\x00\x01\x00\x00\x00\x02\x01\x00\x05", b"garbage", b"\x80", b"\x08\x02"]
    mutations = [kv.Mutation(op=kv.Put, key=row_key(h), value=values[h % len(values)]) for h in range(1, 21)]
    r = stub.KvPrewrite(kv.PrewriteRequest(mutations=mutations, primary_lock=row_key(1), start_version=10, lock_ttl=100))
    assert not r.errors and not r.HasField("region_error"), r
    r = stub.KvCommit(kv.CommitRequest(keys=[m.key for m in mutations], start_version=10, commit_version=11))
    assert not r.HasField("error") and not r.HasField("region_error"), r


def report(name, stats, failures):
    by_code = collections.Counter()
    for key, n in stats.items():
        if isinstance(key, tuple):
            by_code[key[1]] += n
        elif key != "total":
            by_code[key] += n
    print(f"\n{name}: {stats['total']} calls (seed {SEED}), outcomes {dict(by_code)}, {len(failures)} failures")
    for f in failures[:10]:
        print("  " + f)


def test_fuzz_tinykv_server(workdir):
    port = free_port()
    proc = Process([str(BIN / "tinykv-server"), "-addr", f"127.0.0.1:{port}", "-path", str(workdir / "data")],
                   str(workdir / "server.log"))
    try:
        wait_port(port, proc.proc)
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        seed_table_rows(tinykvpb_pb2_grpc.TinyKvStub(channel))
        stats, failures = collections.Counter(), []
        fuzz(channel, "tinykvpb.TinyKv", random.Random(SEED), SECONDS, stats, failures)
        report("tinykv-server", stats, failures)
        assert proc.proc.poll() is None, f"tinykv-server died:\n{proc.output()[-3000:]}"
        stub = tinykvpb_pb2_grpc.TinyKvStub(channel)
        assert stub.RawPut(kv.RawPutRequest(key=b"after-fuzz", value=b"ok"), timeout=5).error == ""
        assert stub.RawGet(kv.RawGetRequest(key=b"after-fuzz"), timeout=5).value == b"ok"
        assert not failures, "\n".join(failures[:20])
        assert stats["total"] > 200
    finally:
        proc.stop()


def test_fuzz_tinyscheduler_server(workdir):
    port = free_port()
    proc = Process([str(BIN / "tinyscheduler-server"), "--client-urls", f"http://127.0.0.1:{port}",
                    "--data-dir", str(workdir / "pd"), "--name", "pd-fuzz"], str(workdir / "pd.log"))
    try:
        wait_port(port, proc.proc)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stats, failures = collections.Counter(), []
        fuzz(channel, "schedulerpb.Scheduler", random.Random(SEED + 1), SECONDS, stats, failures)
        report("tinyscheduler-server", stats, failures)
        assert proc.proc.poll() is None, f"tinyscheduler-server died:\n{proc.output()[-3000:]}"
        stub = schedulerpb_pb2_grpc.SchedulerStub(channel)
        assert stub.GetMembers(pd.GetMembersRequest(header=pd.RequestHeader()), timeout=5).header.cluster_id > 0
        ts = list(stub.Tso(iter([pd.TsoRequest(header=pd.RequestHeader(), count=1)]), timeout=5))
        assert len(ts) == 1
        assert not failures, "\n".join(failures[:20])
        assert stats["total"] > 200
    finally:
        proc.stop()
