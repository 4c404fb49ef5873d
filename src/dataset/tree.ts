import { constants } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { resolve } from "node:path";
import type { BlobReader } from "./blob-reader.js";
import { decodePath } from "./path-bytes.js";
import type { GitSource } from "./source.js";

/**
 * One snapshot of a face dataset, whatever holds it: a commit of a git repository or a plain folder.
 * The scanner only sees this interface, so both are validated by the same code.
 */

export type EntryKind = "file" | "symlink" | "submodule" | "special";

export interface TreeEntry {
  /** Relative path with "/" separators; when pathBytes is set, shown with its invalid bytes escaped (\xNN). */
  path: string;
  /**
   * The path's bytes when they are not valid UTF-8, else null. Such a path cannot be a label or a
   * manifest path faithfully, so the entry is rejected by name and never read.
   */
  pathBytes: Buffer | null;
  kind: EntryKind;
  size: number;
  /**
   * A key that identifies the content without reading it, when the backend has one for free
   * (git's blob id). Null for plain folders, where the content hash must be computed.
   */
  contentKey: string | null;
}

export interface DatasetTree {
  /** For messages: "git repository /x at 1a2b3c4" or "folder /x". */
  readonly description: string;
  readonly commit: string | null;
  list(): Promise<TreeEntry[]>;
  read(entry: TreeEntry): Promise<Buffer>;
  /** Where a symbolic link points (never followed). */
  readLink(entry: TreeEntry): Promise<string>;
  close(): Promise<void>;
}

export class GitCommitTree implements DatasetTree {
  readonly description: string;
  private reader: BlobReader | null = null;
  private readonly blobIds = new Map<string, string>();

  constructor(
    private readonly source: GitSource,
    readonly commit: string,
  ) {
    this.description = `git repository ${source.location} at ${commit.slice(0, 12)}`;
  }

  async list(): Promise<TreeEntry[]> {
    const entries = await this.source.listTree(this.commit);
    return entries.map((entry) => {
      const decoded = decodePath(entry.pathBytes);
      // Only exact paths can be read: an escaped one could equal a real name holding a backslash.
      if (decoded.utf8) this.blobIds.set(decoded.text, entry.blobId);
      return { path: decoded.text, pathBytes: decoded.utf8 ? null : entry.pathBytes, kind: entry.kind, size: entry.size, contentKey: `git:${entry.blobId}` };
    });
  }

  read(entry: TreeEntry): Promise<Buffer> {
    const blobId = this.blobIds.get(entry.path);
    if (!blobId) return Promise.reject(new Error(`${entry.path} is not in ${this.description}`));
    this.reader ??= this.source.openBlobReader();
    return this.reader.read(blobId);
  }

  async readLink(entry: TreeEntry): Promise<string> {
    // git stores a symbolic link as a blob holding the target path.
    return (await this.read(entry)).toString("utf8");
  }

  async close(): Promise<void> {
    await this.reader?.close();
    this.reader = null;
  }
}

/** Folders deeper than this are not walked: the layout allows one level, the rest is reported. */
const maxWalkDepth = 8;

export class FolderTree implements DatasetTree {
  readonly description: string;
  readonly commit = null;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = `folder ${this.root}`;
  }

  async list(): Promise<TreeEntry[]> {
    const entries: TreeEntry[] = [];
    // Names are read as bytes: Node's default decoding would turn a name that is not UTF-8 into one
    // that does not exist (and two such names into one).
    const root = Buffer.from(this.root);
    const slash = Buffer.from("/");
    const walk = async (relative: Buffer, depth: number): Promise<void> => {
      const names = await readdir(relative.length > 0 ? Buffer.concat([root, slash, relative]) : root, { withFileTypes: true, encoding: "buffer" });
      const files: Array<Promise<TreeEntry>> = [];
      for (const dirent of names) {
        const pathBytes = relative.length > 0 ? Buffer.concat([relative, slash, dirent.name]) : dirent.name;
        if (dirent.isDirectory()) {
          // Hidden folders (.git, .github) are not part of any dataset and are not walked at all.
          if (dirent.name[0] !== 0x2e && depth < maxWalkDepth) await walk(pathBytes, depth + 1);
          continue;
        }
        const decoded = decodePath(pathBytes);
        files.push(
          lstat(Buffer.concat([root, slash, pathBytes])).then((stats) => {
            const kind: EntryKind = stats.isSymbolicLink() ? "symlink" : stats.isFile() ? "file" : "special";
            return { path: decoded.text, pathBytes: decoded.utf8 ? null : pathBytes, kind, size: stats.size, contentKey: null };
          }),
        );
      }
      entries.push(...(await Promise.all(files)));
    };
    await walk(Buffer.alloc(0), 0);
    return entries;
  }

  async read(entry: TreeEntry): Promise<Buffer> {
    if (entry.pathBytes) throw new Error(`${entry.path} is not a UTF-8 path and is never read`);
    // O_NOFOLLOW: a file swapped for a symbolic link after listing is refused, not followed.
    const handle = await open(this.resolveInside(entry.path), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  readLink(entry: TreeEntry): Promise<string> {
    return readlink(this.resolveInside(entry.path));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private resolveInside(path: string): string {
    const absolute = resolve(this.root, path);
    if (!absolute.startsWith(`${this.root}/`)) throw new Error(`${path} is outside ${this.root}`);
    return absolute;
  }
}
