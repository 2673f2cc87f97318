"""TinySQL's key, row and datum encodings in plain Python, for the coprocessor end-to-end test.

Written from TinySQL's `util/codec`, `tablecodec` and `util/rowcodec` (and the notes in
COPROCESSOR.md), independently of the Swift `Codec` module, so that the test checks the store
against the format and not against itself.

Datums are Python values: None (NULL), int (signed), Uint (unsigned), float, bytes (strings are
encoded as UTF-8), decimal.Decimal (MySQL DECIMAL).
"""
import decimal
import struct

SIGN_MASK = 1 << 63

# Flags of a datum (util/codec/codec.go).
NIL_FLAG, BYTES_FLAG, COMPACT_BYTES_FLAG, INT_FLAG, UINT_FLAG, FLOAT_FLAG, DECIMAL_FLAG = 0, 1, 2, 3, 4, 5, 6
DURATION_FLAG, VARINT_FLAG, UVARINT_FLAG, MAX_FLAG = 7, 8, 9, 250


class Uint(int):
    """An unsigned datum (KindUint64), distinct from a signed int."""


# ---------------------------------------------------------------- numbers

def encode_int_cmp(v):
    """codec.EncodeInt: 8 bytes big-endian with the sign bit flipped, so that bytes sort like ints."""
    return struct.pack(">Q", (v & 0xFFFFFFFFFFFFFFFF) ^ SIGN_MASK)


def decode_int_cmp(b):
    u = struct.unpack(">Q", bytes(b[:8]))[0] ^ SIGN_MASK
    return u - (1 << 64) if u >= SIGN_MASK else u


def encode_uint_cmp(v):
    return struct.pack(">Q", v)


def encode_float_cmp(f):
    """codec.EncodeFloat: IEEE bits, sign bit set for >= 0, all bits inverted for < 0."""
    u = struct.unpack(">Q", struct.pack(">d", f))[0]
    u = u | SIGN_MASK if f >= 0 else (~u) & 0xFFFFFFFFFFFFFFFF
    return struct.pack(">Q", u)


def decode_float_cmp(b):
    u = struct.unpack(">Q", bytes(b[:8]))[0]
    u = u & ~SIGN_MASK if u & SIGN_MASK else (~u) & 0xFFFFFFFFFFFFFFFF
    return struct.unpack(">d", struct.pack(">Q", u))[0]


def encode_uvarint(u):
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def decode_uvarint(b, pos):
    shift = result = 0
    while True:
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def encode_varint(v):
    """Go's binary.PutVarint: zig-zag, then uvarint."""
    u = (v << 1) & 0xFFFFFFFFFFFFFFFF
    if v < 0:
        u ^= 0xFFFFFFFFFFFFFFFF
    return encode_uvarint(u)


def decode_varint(b, pos):
    u, pos = decode_uvarint(b, pos)
    v = u >> 1
    if u & 1:
        v = ~v
    return v, pos


# ---------------------------------------------------------------- bytes

def encode_bytes_cmp(data):
    """codec.EncodeBytes: 8-byte groups padded with zeros, each followed by 0xFF - pad count."""
    out = bytearray()
    for i in range(0, len(data) + 1, 8):
        group = data[i:i + 8]
        pad = 8 - len(group)
        out += group + b"\x00" * pad + bytes([0xFF - pad])
        if pad:
            break
    return bytes(out)


def decode_bytes(b):
    """codec.DecodeBytes as TinySQL's pd_codec calls it on region boundaries: the key encoded at the
    start of `b` and the bytes after it; ValueError when `b` does not start with an encoded key
    (a truncated group, a marker below 0xFF - 8, non-zero padding)."""
    out = bytearray()
    pos = 0
    while True:
        if len(b) - pos < 9:
            raise ValueError(f"insufficient bytes to decode {b!r}")
        group, marker = b[pos:pos + 8], b[pos + 8]
        pos += 9
        pad = 0xFF - marker
        if pad > 8:
            raise ValueError(f"invalid marker byte in {b!r}")
        out += group[:8 - pad]
        if pad:
            if any(group[8 - pad:]):
                raise ValueError(f"invalid padding byte in {b!r}")
            return bytes(out), b[pos:]


def decode_bytes_cmp(b, pos):
    out = bytearray()
    while True:
        group, marker = b[pos:pos + 8], b[pos + 8]
        pos += 9
        pad = 0xFF - marker
        out += group[:8 - pad]
        if pad:
            return bytes(out), pos


# ---------------------------------------------------------------- MySQL decimal (types/mydecimal.go, ToBin/FromBin)

_DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]


def decimal_bin_size(precision, frac):
    intg = precision - frac
    return (intg // 9) * 4 + _DIG2BYTES[intg % 9] + (frac // 9) * 4 + _DIG2BYTES[frac % 9]


def encode_decimal_bin(value, precision, frac):
    value = decimal.Decimal(value)
    negative = value < 0
    scaled = int(abs(value).scaleb(frac).to_integral_value(rounding=decimal.ROUND_HALF_UP))
    intg = precision - frac
    int_digits = str(scaled // 10 ** frac).rjust(intg, "0") if intg else ""
    if len(int_digits) > intg or (intg == 0 and scaled // 10 ** frac):
        raise ValueError(f"{value} does not fit DECIMAL({precision},{frac})")
    frac_digits = str(scaled % 10 ** frac).rjust(frac, "0") if frac else ""
    out = bytearray()
    lead = intg % 9
    if lead:
        out += int(int_digits[:lead]).to_bytes(_DIG2BYTES[lead], "big")
    for i in range(lead, intg, 9):
        out += int(int_digits[i:i + 9]).to_bytes(4, "big")
    full = frac - frac % 9
    for i in range(0, full, 9):
        out += int(frac_digits[i:i + 9]).to_bytes(4, "big")
    if frac % 9:
        out += int(frac_digits[full:]).to_bytes(_DIG2BYTES[frac % 9], "big")
    if negative:
        out = bytearray(x ^ 0xFF for x in out)
    out[0] ^= 0x80
    return bytes(out)


def decode_decimal_bin(b, pos, precision, frac):
    size = decimal_bin_size(precision, frac)
    raw = bytearray(b[pos:pos + size])
    if len(raw) != size:
        raise ValueError("truncated decimal")
    negative = not (raw[0] & 0x80)
    raw[0] ^= 0x80
    if negative:
        raw = bytearray(x ^ 0xFF for x in raw)
    intg = precision - frac
    digits, p = "", 0
    lead = intg % 9
    if lead:
        n = _DIG2BYTES[lead]
        digits += str(int.from_bytes(raw[p:p + n], "big")).rjust(lead, "0")
        p += n
    for _ in range(intg // 9):
        digits += str(int.from_bytes(raw[p:p + 4], "big")).rjust(9, "0")
        p += 4
    fdigits = ""
    for _ in range(frac // 9):
        fdigits += str(int.from_bytes(raw[p:p + 4], "big")).rjust(9, "0")
        p += 4
    if frac % 9:
        n = _DIG2BYTES[frac % 9]
        fdigits += str(int.from_bytes(raw[p:p + n], "big")).rjust(frac % 9, "0")
    text = (digits or "0") + ("." + fdigits if fdigits else "")
    d = decimal.Decimal(text)
    return (-d if negative else d), pos + size


def encode_decimal(value, precision, frac):
    """codec.EncodeDecimal: precision, frac, then the binary form."""
    return bytes([precision, frac]) + encode_decimal_bin(value, precision, frac)


def decimal_precision_frac(value):
    """The precision and frac a decimal value has on its own (MyDecimal.PrecisionAndFrac)."""
    _, digits, exp = decimal.Decimal(value).as_tuple()
    frac = max(0, -exp)
    intg = len(str(int(abs(decimal.Decimal(value))))) if abs(decimal.Decimal(value)) >= 1 else 0
    return max(1, intg + frac), frac


# ---------------------------------------------------------------- datums

def _as_bytes(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def encode_key_datum(v):
    """codec.EncodeKey of one datum (comparable form, used in index keys)."""
    if v is None:
        return bytes([NIL_FLAG])
    if isinstance(v, Uint):
        return bytes([UINT_FLAG]) + encode_uint_cmp(v)
    if isinstance(v, bool) or isinstance(v, int):
        return bytes([INT_FLAG]) + encode_int_cmp(int(v))
    if isinstance(v, float):
        return bytes([FLOAT_FLAG]) + encode_float_cmp(v)
    if isinstance(v, (str, bytes)):
        return bytes([BYTES_FLAG]) + encode_bytes_cmp(_as_bytes(v))
    if isinstance(v, decimal.Decimal):
        p, f = decimal_precision_frac(v)
        return bytes([DECIMAL_FLAG]) + encode_decimal(v, p, f)
    raise TypeError(v)


def encode_key(*values):
    return b"".join(encode_key_datum(v) for v in values)


def encode_value_datum(v):
    """codec.EncodeValue of one datum (value form: column defaults, response rows)."""
    if v is None:
        return bytes([NIL_FLAG])
    if isinstance(v, Uint):
        return bytes([UVARINT_FLAG]) + encode_uvarint(v)
    if isinstance(v, int):
        return bytes([VARINT_FLAG]) + encode_varint(v)
    if isinstance(v, float):
        return bytes([FLOAT_FLAG]) + encode_float_cmp(v)
    if isinstance(v, (str, bytes)):
        b = _as_bytes(v)
        return bytes([COMPACT_BYTES_FLAG]) + encode_varint(len(b)) + b
    if isinstance(v, decimal.Decimal):
        p, f = decimal_precision_frac(v)
        return bytes([DECIMAL_FLAG]) + encode_decimal(v, p, f)
    raise TypeError(v)


def decode_datum(b, pos=0):
    """codec.DecodeOne: one datum of either form; returns (value, next position)."""
    flag = b[pos]
    pos += 1
    if flag == NIL_FLAG:
        return None, pos
    if flag == INT_FLAG:
        return decode_int_cmp(b[pos:pos + 8]), pos + 8
    if flag == UINT_FLAG:
        return Uint(struct.unpack(">Q", bytes(b[pos:pos + 8]))[0]), pos + 8
    if flag == FLOAT_FLAG:
        return decode_float_cmp(b[pos:pos + 8]), pos + 8
    if flag == BYTES_FLAG:
        return decode_bytes_cmp(b, pos)
    if flag == COMPACT_BYTES_FLAG:
        n, pos = decode_varint(b, pos)
        return bytes(b[pos:pos + n]), pos + n
    if flag == VARINT_FLAG:
        return decode_varint(b, pos)
    if flag == UVARINT_FLAG:
        v, pos = decode_uvarint(b, pos)
        return Uint(v), pos
    if flag == DECIMAL_FLAG:
        precision, frac = b[pos], b[pos + 1]
        return decode_decimal_bin(b, pos + 2, precision, frac)
    raise ValueError(f"unexpected datum flag {flag} at {pos - 1}")


def decode_rows(data, width):
    """Rows of `width` datums back to back (a tipb.Chunk's rows_data), as distsql reads them."""
    rows, pos, data = [], 0, bytes(data)
    while pos < len(data):
        row = []
        for _ in range(width):
            v, pos = decode_datum(data, pos)
            row.append(v)
        rows.append(tuple(row))
    return rows


# ---------------------------------------------------------------- keys (tablecodec)

def record_prefix(table_id):
    return b"t" + encode_int_cmp(table_id) + b"_r"


def row_key(table_id, handle):
    return record_prefix(table_id) + encode_int_cmp(handle)


def index_prefix(table_id, index_id):
    return b"t" + encode_int_cmp(table_id) + b"_i" + encode_int_cmp(index_id)


def index_key(table_id, index_id, values, handle=None):
    """The handle is appended (as a comparable int datum) for non-unique indexes, and for unique
    ones when an indexed value is NULL (distinct = false)."""
    key = index_prefix(table_id, index_id) + encode_key(*values)
    if handle is not None:
        key += encode_key_datum(int(handle))
    return key


def unique_index_value(handle):
    """A unique index stores the handle as 8 bytes big-endian (not sign-flipped)."""
    return struct.pack(">q", handle)


NON_UNIQUE_INDEX_VALUE = b"0"


def prefix_next(key):
    """kv.Key.PrefixNext: the smallest key after every key starting with `key`."""
    buf = bytearray(key)
    for i in range(len(buf) - 1, -1, -1):
        buf[i] = (buf[i] + 1) & 0xFF
        if buf[i] != 0:
            return bytes(buf)
    return bytes(key) + b"\x00"


def handle_range(table_id, low, high, low_exclude=False, high_exclude=False):
    """distsql.TableRangesToKVRanges for one handle range [low, high]."""
    lo = encode_int_cmp(low)
    hi = encode_int_cmp(high)
    if low_exclude:
        lo = prefix_next(lo)
    if not high_exclude:
        hi = prefix_next(hi)
    return record_prefix(table_id) + lo, record_prefix(table_id) + hi


def index_range(table_id, index_id, low_vals, high_vals, low_exclude=False, high_exclude=False):
    """distsql.IndexRangesToKVRanges for one range of index values."""
    lo = encode_key(*low_vals)
    hi = encode_key(*high_vals)
    if low_exclude:
        lo = prefix_next(lo)
    if not high_exclude:
        hi = prefix_next(hi)
    prefix = index_prefix(table_id, index_id)
    return prefix + lo, prefix + hi


def full_index_range(table_id, index_id):
    """The range [NULL, MaxValue] of a full index scan."""
    prefix = index_prefix(table_id, index_id)
    return prefix + bytes([NIL_FLAG]), prefix + prefix_next(bytes([MAX_FLAG]))


# ---------------------------------------------------------------- rows (util/rowcodec, format version 128)

def _int_le(v, signed):
    for size in (1, 2, 4, 8):
        try:
            return v.to_bytes(size, "little", signed=signed)
        except OverflowError:
            continue
    raise OverflowError(v)


def encode_row_value(v, column):
    """One not-null column value in the row format."""
    if isinstance(v, Uint):
        return _int_le(int(v), signed=False)
    if isinstance(v, int):
        return _int_le(v, signed=True)
    if isinstance(v, float):
        return encode_float_cmp(v)
    if isinstance(v, (str, bytes)):
        return _as_bytes(v)
    if isinstance(v, decimal.Decimal):
        return encode_decimal(v, column["flen"], column["decimal"])
    raise TypeError(v)


def encode_row(columns, values):
    """rowcodec.Encoder.Encode: `values` maps column id -> datum; columns (id -> column dict) give
    decimal precision. NULLs present in `values` go to the null section; absent columns are absent."""
    not_null = sorted((cid, v) for cid, v in values.items() if v is not None)
    nulls = sorted(cid for cid, v in values.items() if v is None)
    data, offsets = bytearray(), []
    for cid, v in not_null:
        data += encode_row_value(v, columns[cid])
        offsets.append(len(data))
    large = any(cid > 255 for cid in values) or len(data) > 0xFFFF
    out = bytearray([128, 1 if large else 0])
    out += struct.pack("<HH", len(not_null), len(nulls))
    id_fmt, off_fmt = ("<I", "<I") if large else ("<B", "<H")
    for cid, _ in not_null:
        out += struct.pack(id_fmt, cid)
    for cid in nulls:
        out += struct.pack(id_fmt, cid)
    for off in offsets:
        out += struct.pack(off_fmt, off)
    return bytes(out + data)
