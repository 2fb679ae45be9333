"""The seeds' bundler in Python, the reference `cargo xtask bench` measures the aggregator against.

tarfile + gzip (zlib) + hashlib, doing what the aggregator does: every file under its relative path with a
SHA-256 in MANIFEST.json (last), the bundle hashed with SHA-256. Prints the bundle's hex SHA-256.

usage: reference.py DIR OUT LEVEL
"""

import hashlib
import io
import json
import os
import sys
import tarfile


def main(directory, out, level):
    paths = []
    for base, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(base, name)
            paths.append((os.path.relpath(path, directory).replace(os.sep, "/"), path))
    paths.sort()
    files = []
    with tarfile.open(out, "w:gz", compresslevel=level, format=tarfile.GNU_FORMAT) as tar:
        for key, path in paths:
            with open(path, "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(key)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(os.path.getmtime(path))
            tar.addfile(info, io.BytesIO(data))
            files.append({"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        manifest = json.dumps({"files": files}, indent=2).encode()
        info = tarfile.TarInfo("MANIFEST.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    digest = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    print(digest.hexdigest())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
