#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (fuzz/seeds/<target>/), deterministically.

The seeds are committed; run this again only to change them:  python3 fuzz/seeds/generate.py
Each target's input format is described at the top of fuzz/fuzz_targets/<target>.rs.
"""
import gzip
import hashlib
import io
import os
import shutil
import struct
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
BOUNDARY = b"oci-pypi-fuzz-boundary"
METADATA = b"Metadata-Version: 2.2\nName: foo-bar\nVersion: 1.0\nRequires-Python: >=3.8\n" \
    b"Requires-Dist: requests>=2\nSummary: a seed\n\nThe description.\n"


def write(target, name, data):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data if isinstance(data, bytes) else data.encode())


def wheel(dist_info="foo_bar-1.0.dist-info", compression=zipfile.ZIP_DEFLATED, payload=b"",
          metadata_first=False):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        def add(name, data):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, data)
        if metadata_first:
            add(f"{dist_info}/METADATA", METADATA)
        add("foo_bar/__init__.py", b"")
        if payload:
            add("foo_bar/payload.bin", payload)
        if not metadata_first:
            add(f"{dist_info}/METADATA", METADATA)
        add(f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        add(f"{dist_info}/RECORD", b"")
    return buffer.getvalue()


def raw_tar(top="foo_bar-1.0", pax=False, long_name=False):
    buffer = io.BytesIO()
    tar_format = tarfile.PAX_FORMAT if pax else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
        add(f"{top}/setup.py", b"")
        if long_name:
            add(f"{top}/" + "d" * 120 + "/file.txt", b"x")
        add(f"{top}/PKG-INFO", METADATA)
    data = buffer.getvalue()
    # Drop the zero padding past the two end blocks: shorter seeds fuzz faster.
    end = len(data.rstrip(b"\0"))
    end += -end % 512 + 1024
    return data[:end]


def gz(data):
    return gzip.compress(data, mtime=0)


def part(name, value, filename=None):
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY.decode()}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def multipart(fields, content=None, filename="foo_bar-1.0-py3-none-any.whl"):
    body = b"".join(part(name, value.encode()) for name, value in fields)
    if content is not None:
        body += part("content", content, filename)
    return body + b"--" + BOUNDARY + b"--\r\n"


def main():
    for target in ["version", "project_name", "dist_filename", "upload_form", "upload_multipart",
                   "www_authenticate", "route", "negotiate", "wheel_metadata", "sdist_metadata",
                   "core_metadata"]:
        shutil.rmtree(os.path.join(ROOT, target), ignore_errors=True)

    versions = ["1.0", "1!2.0.post1.dev3+local.7", "v1.0a-", "1.0-1", "01.02.003rc1",
                "1.0.0-alpha.1", " 2.0b2.post-3 ", "1.0|1.0.0", "1.0a1|1.0.dev1+abc.1"]
    for i, text in enumerate(versions):
        write("version", f"seed-{i}", text)
    for i, text in enumerate(["Foo.Bar_baz", "a", "zope.interface", "FrIeNdLy-._.-bArD"]):
        write("project_name", f"seed-{i}", text)
    filenames = ["Foo_Bar-1.0.post1-py3-none-any.whl",
                 "baz-2.5.1.dev4+g1664eb2-1234-cp311-cp311-macosx_13_0_x86_64.whl",
                 "pkg-1!2.0-py2.py3-none-any.whl", "foo-bar-1.0.tar.gz", "legacy-0.1.zip"]
    for i, text in enumerate(filenames):
        write("dist_filename", f"seed-{i}", text)
    challenges = ['Bearer realm="https://auth.example/token",service="registry.example",'
                  'scope="repository:ns/foo:pull"',
                  'Basic realm="registry"',
                  'bearer realm="http://127.0.0.1:5001/auth", error="insufficient_scope"',
                  'Bearer realm="https://a\\"b", service=x, scope="repository:a:pull,push"']
    for i, text in enumerate(challenges):
        write("www_authenticate", f"seed-{i}", text)
    routes = [b"\x00/ghcr.io/org/hello/", b"\x00/ghcr.io/org/+simple/",
              b"\x00/http%3A%2F%2F127.0.0.1%3A5000/ns/foo/foo-1.0-py3-none-any.whl",
              b"\x00/127.0.0.1:5000/a/b/+simple/foo/foo-1.0.tar.gz.metadata",
              b"\x01/ghcr.io/org/foo/json", b"\x02/127.0.0.1:5000/ns/legacy/",
              b"\x03/ghcr.io/org/foo/1.0", b"\x02/h/ns/+yank/foo/1.0", b"\x04/health",
              b"\x00/http:/h:5000/ns/foo/"]
    for i, data in enumerate(routes):
        write("route", f"seed-{i}", data)
    accepts = [b"\x00application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;"
               b" q=0.1, text/html; q=0.01",
               b"\x00text/*;q=0.5, */*;q=0.1", b"\x01\nJSON", b"\x03\napplication/vnd.pypi.simple.latest+html",
               b"\x00application/json;q=1.5, text/html;q=0"]
    for i, data in enumerate(accepts):
        write("negotiate", f"seed-{i}", data)

    wheels = [wheel(), wheel(compression=zipfile.ZIP_STORED), wheel("Foo_Bar-1.0.dist-info"),
              wheel("other-2.0.dist-info")]
    for i, data in enumerate(wheels):
        write("wheel_metadata", f"seed-{i}", bytes([i]) + struct.pack("<HH", 0, 0) + data)
    big = wheel(payload=bytes(range(256)) * 16, compression=zipfile.ZIP_STORED)
    write("wheel_metadata", "seed-tail", bytes([0]) + struct.pack("<HH", 333, 1024) + big)
    first = wheel(payload=bytes(range(256)) * 16, metadata_first=True)
    write("wheel_metadata", "seed-first", bytes([0]) + struct.pack("<HH", 97, 400) + first)

    for i, (pax, long_name) in enumerate([(False, False), (True, False), (False, True), (True, True)]):
        tar = raw_tar(pax=pax, long_name=long_name)
        write("sdist_metadata", f"seed-raw-{i}", bytes([0b10, 0]) + tar)
        write("sdist_metadata", f"seed-gz-{i}", bytes([0b00, 99]) + gz(tar))
    tar = raw_tar(top="Foo-Bar-1.0")
    write("sdist_metadata", "seed-cut", bytes([0b0111, 40]) + tar)

    write("core_metadata", "seed-0", METADATA)
    write("core_metadata", "seed-1", b"Metadata-Version: 2.4\r\nName: x\r\nVersion: 1\r\n"
          b"Dynamic: Requires-Dist\r\nSummary: folded\r\n  continuation\r\n")

    content = wheel()
    sha256 = hashlib.sha256(content).hexdigest()
    fields = [(":action", "file_upload"), ("protocol_version", "1"), ("name", "foo-bar"),
              ("version", "1.0"), ("sha256_digest", sha256), ("filetype", "bdist_wheel")]
    write("upload_multipart", "seed-upload", multipart(fields, content))
    write("upload_multipart", "seed-content-first", multipart([], content)[:-len(BOUNDARY) - 6]
          + multipart(fields))
    write("upload_multipart", "seed-no-file", multipart(fields))
    write("upload_multipart", "seed-retired", multipart([(":action", "submit")]))
    write("upload_multipart", "seed-sdist", multipart(fields[:2] + [("name", "foo-bar"), ("version", "1.0")],
                                                      gz(raw_tar()), "foo_bar-1.0.tar.gz"))
    write("upload_multipart", "seed-truncated", multipart(fields, content)[:300])


if __name__ == "__main__":
    main()
