/**
 * Why a file is not part of the dataset. Each code is stable (tools match on it); the message that
 * goes with it is a sentence for people.
 */
export const rejectReasons = {
  not_an_image: "not an image",
  unsupported_format: "unsupported image format",
  corrupt: "corrupt or truncated",
  empty: "empty file",
  too_small: "too small",
  too_large: "too large",
  lfs_pointer: "Git LFS pointer",
  symlink: "symbolic link",
  top_level_file: "photo outside a person's folder",
  nested_too_deep: "nested deeper than one folder",
  invalid_label: "invalid folder name",
  invalid_name: "file name not UTF-8",
  label_conflict: "same photo under two people",
  duplicate: "duplicate of another photo",
  label_too_small: "person has too few photos",
  no_face: "no face found (dataset.requireFace)",
} as const;

export type RejectReason = keyof typeof rejectReasons;

export interface RejectedFile {
  path: string;
  reason: RejectReason;
  message: string;
}
