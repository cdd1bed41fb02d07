#!/usr/bin/env python3
# Writes the committed seed corpora under fuzz/corpus/<target>/: small valid files of each format (standard
# library only: struct, zlib, gzip). The JPEG seeds are written by stb_image_write (see write_jpeg_seeds below).
import gzip, json, os, struct, subprocess, sys, tempfile, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)

def npy(descr, shape, payload, version=1):
    dims = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)
    pre = 10 if version == 1 else 12
    header += " " * ((64 - (pre + len(header) + 1) % 64) % 64) + "\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + payload

def safetensors(tensors, metadata=None):
    header, blobs, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(payload)]}
        blobs += payload
        off += len(payload)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blobs

def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload

def png(width, height, channels, pixels):
    color = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + pixels[y * width * channels:(y + 1) * width * channels] for y in range(height))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def bmp(width, height, pixels_bgr):
    row = (width * 3 + 3) & ~3
    data = b"".join(pixels_bgr[y * width * 3:(y + 1) * width * 3].ljust(row, b"\x00") for y in reversed(range(height)))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(data), 0, 0, 54) + info + data

f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
i32 = lambda *v: struct.pack(f"<{len(v)}i", *v)

# safetensors: a checkpoint-like file with metadata, every 2-byte float, and an empty one.
put("safetensors", "f32_i64_meta", safetensors([("a.weight", "F32", [2, 2], f32(1, -2, 3.5, 0)),
                                                ("step", "I64", [1], struct.pack("<q", 7))], {"epoch": "1"}))
put("safetensors", "f16_bf16_u8", safetensors([("h", "F16", [2], b"\x00\x3c\x00\xc0"), ("b", "BF16", [1, 1], b"\x80\x3f"),
                                               ("m", "U8", [3], b"\x01\x02\x03"), ("z", "F32", [0, 4], b"")]))
put("safetensors", "empty", safetensors([]))
# npy: every supported dtype, a 0-d array, a version 2.0 header.
put("npy", "f32_2x3", npy("<f4", (2, 3), f32(0, 0.25, 0.5, 0.75, 1, 0.125)))
put("npy", "u8_1x2x2", npy("|u1", (1, 2, 2), bytes([0, 64, 128, 255])))
put("npy", "i4_4", npy("<i4", (4,), i32(0, 1, -1, 7)))
put("npy", "f8_scalar", npy("<f8", (), struct.pack("<d", 0.5)))
put("npy", "i8_v2", npy("<i8", (2, 1), struct.pack("<2q", 3, 4), version=2))
# IDX: images and labels, plain; the same gzipped for the gzip target (plus one plain file: no gzip is valid too).
images = idx([2, 3, 3], bytes(range(18)))
labels = idx([2], bytes([1, 9]))
put("idx", "images_2x3x3", images)
put("idx", "labels_2", labels)
put("idx_gz", "images_2x3x3.gz", gzip.compress(images, mtime=0))
put("idx_gz", "labels_2.gz", gzip.compress(labels, mtime=0))
put("idx_gz", "images_plain", images)
# images: PNG grey / grey+alpha / RGB / RGBA, a 24-bit BMP (JPEGs, for image_jpeg, below).
put("image", "grey_3x2.png", png(3, 2, 1, bytes([0, 50, 100, 150, 200, 250])))
put("image", "ga_2x2.png", png(2, 2, 2, bytes(range(0, 8 * 30, 30))))
put("image", "rgb_2x2.png", png(2, 2, 3, bytes(range(0, 12 * 20, 20))))
put("image", "rgba_1x2.png", png(1, 2, 4, bytes([255, 0, 0, 255, 0, 255, 0, 128])))
put("image", "rgb_3x2.bmp", bmp(3, 2, bytes(range(0, 18 * 14, 14))))
# configs: what `vae train` writes, and a partial one (missing keys keep their defaults).
put("config", "full.json", json.dumps({"model": "conv-vae", "data": "npy:x.npy", "epochs": 3, "batch": 64, "lr": 0.001,
                                       "seed": 1, "image_size": 28, "channels": 1, "binarize": True, "latent": 16,
                                       "beta": 1.0, "res_blocks": 0, "quantizer": "ema", "codebook_size": 512,
                                       "code_dim": 64, "dead_code_restart": True, "restart_after_steps": 100,
                                       "kmeans_init": True, "threads": 0, "limit": 0, "device": "cpu"}, indent=2).encode())
put("config", "partial.json", b'{"model": "vq-vae", "quantizer": "fsq", "epochs": 1}\n')
# tokens for `vae decode`: int32 [N, h, w] grids of codes in [0, 16) (the fuzz model's codebook size).
put("tokens", "one_2x2", npy("<i4", (1, 2, 2), i32(0, 5, 10, 15)))
put("tokens", "two_2x2", npy("<i4", (2, 2, 2), i32(*range(8))))
put("tokens", "three_1x3", npy("<i4", (3, 1, 3), i32(*[1] * 9)))

# captions: a captions.jsonl, a caption text file, shapes prompts (the grammar's every relation, partial objects).
put("captions", "captions.jsonl", b'{"file": "a.png", "caption": "a photo of a sneaker"}\n\n{"caption": "x", "file": "d/b.jpg"}\n')
put("captions", "caption.txt", b"\n  a small red circle above a large blue square \r\nsecond line\n")
put("captions", "prompt_left", b"a small blue square to the left of a large yellow triangle")
put("captions", "prompt_partial", b"An RED circle below a shape.")

def write_jpeg_seeds():
    # Baseline JPEGs (grey and colour, 8x8 gradients) from stb_image_write, compiled against Debian's libstb-dev.
    src = r'''
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
int main(int, char** argv) {
  unsigned char g[64], c[192];
  for (int i = 0; i < 64; ++i) { g[i] = (unsigned char)(i * 4); c[3*i] = (unsigned char)(i * 4); c[3*i+1] = (unsigned char)(255 - i * 4); c[3*i+2] = (unsigned char)((i % 8) * 32); }
  return !(stbi_write_jpg(argv[1], 8, 8, 1, g, 90) && stbi_write_jpg(argv[2], 8, 8, 3, c, 90));
}
'''
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "w.c"), "w") as f:
            f.write(src)
        subprocess.run(["cc", "-o", os.path.join(d, "w"), os.path.join(d, "w.c"), "-lm"], check=True)
        os.makedirs(os.path.join(root, "image_jpeg"), exist_ok=True)
        subprocess.run([os.path.join(d, "w"), os.path.join(root, "image_jpeg", "grey_8x8.jpg"),
                        os.path.join(root, "image_jpeg", "rgb_8x8.jpg")], check=True)

write_jpeg_seeds()
print("wrote", sum(len(files) for _, _, files in os.walk(root)), "seed files under", root)
