"""Python gRPC stubs generated from the repository's proto/ (once per process tree)."""
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load():
    out = os.environ.get("TINYKV_CHAOS_STUBS")
    if not out:
        out = tempfile.mkdtemp(prefix="tinykv-chaos-stubs-")
        from grpc_tools import protoc
        import grpc_tools
        include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
        args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"] + protos
        if protoc.main(args) != 0:
            raise RuntimeError("grpc_tools.protoc failed on proto/")
        os.environ["TINYKV_CHAOS_STUBS"] = out
    if out not in sys.path:
        sys.path.insert(0, out)
    return out
