/**
 * The storage driver seam: the image cache and per-server disks. qemu-img implements it (qemu-img.ts).
 * Failures are the agent's domain errors with the codes of {@link StorageErrorCode}.
 */

import type { WrittenData } from './copy.js';
import type { DownloadProgress } from './download.js';
import type { StorageErrorCode } from './errors.js';
import type { ImageInfo, ImportExpectations, ImportedImage, OverlayResult } from './images.js';

export type { StorageErrorCode };

/** A request for a server's root disk: a thin overlay on a cached image. */
export interface OverlayRequest {
  /** The cached image the overlay backs onto. */
  imageId: string;
  /** Its format, as recorded at import (never probed again). */
  format: string;
  /** Absolute path of the overlay to create. */
  path: string;
  /** Size to grow the disk to, in bytes (default: the image's virtual size; smaller is refused). */
  virtualSize?: number;
}

/** A request for a volume file: blank, an overlay of a cached image, or a copy of another volume's file. */
export interface VolumeRequest {
  /** Absolute path of the qcow2 file to create. */
  path: string;
  sizeBytes: number;
  source:
    | { kind: 'blank' }
    | { kind: 'image'; imageId: string; format: string }
    | { kind: 'volume'; path: string };
}

/**
 * Where an image's data comes from: a host file a client named (opened only inside the operator's allowed
 * directories), or data the client uploaded before (by its SHA-256; `label` names it in messages).
 */
export type ImageData =
  | { path: string }
  | { uploaded: string; label: string }
  | { url: string; signal?: AbortSignal; progress?: (p: DownloadProgress) => void };

/** How an upload's body is sent, and what to compute while writing it. */
export interface UploadOptions {
  /** The body is in the extents wire form (`@stratus/util` EXTENTS_MEDIA_TYPE), not the file's bytes. */
  extents?: boolean;
  /** Also compute the plain SHA-256 of the file (the client's stack declares a sha256 checksum). */
  sha256?: boolean;
}

/** A storage driver. */
export interface StorageDriver {
  /**
   * Copies `data` into the image cache as image `imageId` (verified against `expect`; data already
   * cached is shared, not copied again) and describes the copy.
   */
  importImage(imageId: string, data: ImageData, expect?: ImportExpectations): Promise<ImportedImage>;
  /**
   * Stores data a client sends for image `imageId` until the image is created from it (by its checksum).
   * Removed when its lease ends ({@link sweepUploads}), when the image is deleted, and at the agent's
   * next start, if no image was created from it.
   */
  stageUpload(imageId: string, body: AsyncIterable<Uint8Array>, opts?: UploadOptions): Promise<WrittenData>;
  /** Removes temporaries, uploads and cached files of images `owned` rejects (see QemuImgStorage). */
  recover(owned: (imageId: string) => boolean): Promise<string[]>;
  /**
   * Removes uploads that no create consumed within `leaseMs` of their last write (a client killed
   * between its upload and its create); returns the names removed.
   */
  sweepUploads(leaseMs: number): Promise<string[]>;
  /** Removes a cached image and its uploads; succeeds when they are already gone. */
  deleteImage(imageId: string): Promise<void>;
  /** Creates a server disk backed by a cached image (idempotent: a matching overlay is kept). */
  createOverlay(req: OverlayRequest): Promise<OverlayResult>;
  /** What qemu-img says about the image file at `path` (any file, e.g. an adopted domain's disk). */
  inspect(path: string): Promise<ImageInfo>;
  /** The cache file of image `imageId` (an ISO image is attached from there as a CD-ROM). */
  imagePath(imageId: string): string;
  /** The cached image whose file is `path`, if `path` is one. */
  imageIdOf(path: string): string | null;
  /** Creates a volume file (blank, an overlay of a cached image, or a copy of another volume); idempotent. */
  createVolume(req: VolumeRequest): Promise<{ created: boolean }>;
  /**
   * Whether any guest has written data to the disk file at `path` (a qcow2 with no backing file): false
   * while every cluster is unallocated, as a new image is made (storage/qcow2.ts). Readable while a guest runs.
   */
  hasData(path: string): Promise<boolean>;
  /** Grows a disk file no running guest has open to `sizeBytes`; never shrinks. */
  growDisk(path: string, sizeBytes: number): Promise<void>;
  /** Removes a disk file; returns whether there was one. */
  delete(path: string): Promise<boolean>;
}
