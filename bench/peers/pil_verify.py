#!/usr/bin/env python3
"""Peer for the dataset-check benchmark: what a user would write without faceops.

Walks <root>/<label>/<file>, hashes every file and fully decodes it with Pillow (Image.load),
counting failures, with N worker processes. Prints one JSON line: photos, seconds, photos_per_s.
Needs Debian's python3-pil.
"""
import hashlib
import json
import os
import sys
import time
from multiprocessing import Pool

from PIL import Image


def check(path):
    with open(path, "rb") as handle:
        data = handle.read()
    hashlib.sha256(data).hexdigest()
    try:
        with Image.open(path) as image:
            image.load()
            return image.size
    except Exception:  # noqa: BLE001 - a peer only counts failures
        return None


def main():
    root = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    paths = []
    for label in sorted(os.listdir(root)):
        folder = os.path.join(root, label)
        if os.path.isdir(folder):
            paths.extend(os.path.join(folder, name) for name in sorted(os.listdir(folder)))
    started = time.perf_counter()
    with Pool(workers) as pool:
        results = pool.map(check, paths, chunksize=32)
    seconds = time.perf_counter() - started
    failed = sum(1 for result in results if result is None)
    print(json.dumps({"photos": len(paths), "failed": failed, "workers": workers, "seconds": seconds, "photos_per_s": len(paths) / seconds}))


if __name__ == "__main__":
    main()
