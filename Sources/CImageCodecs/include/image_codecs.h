#pragma once
// Safe wrappers around libpng and libjpeg-turbo for DigitImage.
//
// Both libraries report fatal errors through a callback that must not return (libjpeg's default
// calls exit()). Swift cannot longjmp, so every call that may fail runs here, inside a setjmp
// frame: a corrupt or truncated file becomes a non-zero return code and a message, never a crash.
// No pixel semantics live here: the decoders hand back the file's samples (PNG: unscaled, 16-bit
// big-endian kept; JPEG: the libjpeg output colour space) and DigitImage converts them to RGB.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DBI_MESSAGE_LENGTH 256

/// A decoded PNG, before any colour conversion.
typedef struct {
    int32_t width;
    int32_t height;
    /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    int32_t color_type;
    /// 1, 2, 4, 8 or 16. Samples of depth < 8 are unpacked to one byte each (values unscaled).
    int32_t bit_depth;
    /// Samples per pixel in `data` (1, 2, 3 or 4).
    int32_t channels;
    /// Bytes per row of `data` (width * channels * (bit_depth == 16 ? 2 : 1)).
    size_t row_bytes;
    /// Rows top to bottom; 16-bit samples big-endian as stored. Free with dbi_free.
    uint8_t *data;
    /// PLTE entries (RGB triples) for colour type 3.
    int32_t palette_count;
    uint8_t palette[256 * 3];
} dbi_png_image;

/// A JPEG's header as dbi_jpeg_open reads it (the output size and components).
typedef struct {
    int32_t width;
    int32_t height;
    /// 1 (grayscale), 3 (RGB) or 4 (CMYK as libjpeg outputs it, i.e. Adobe-inverted).
    int32_t components;
    /// libjpeg's J_COLOR_SPACE of the file (1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK).
    int32_t jpeg_color_space;
    /// Whether an Adobe APP14 marker was present.
    int32_t saw_adobe_marker;
} dbi_jpeg_image;

/// Decodes a PNG held in memory. Returns 0 on success; otherwise writes a message and returns non-zero.
/// Images of more than `max_pixels` pixels are refused before any pixel memory is allocated.
int dbi_png_decode(const uint8_t *bytes, size_t length, uint64_t max_pixels, dbi_png_image *out,
                   char message[DBI_MESSAGE_LENGTH]);

/// Reads only the PNG header (width, height, colour type, bit depth).
int dbi_png_read_header(const uint8_t *bytes, size_t length, dbi_png_image *out, char message[DBI_MESSAGE_LENGTH]);

/// A JPEG held in memory being decoded, in steps so that the caller allocates the pixel buffer.
typedef struct dbi_jpeg_reader dbi_jpeg_reader;

/// Reads the header and starts decompression with libjpeg-turbo's defaults (JDCT_ISLOW, fancy
/// upsampling), as Pillow does; fills `out`. Images of more than `max_pixels` pixels are
/// refused before any pixel memory is allocated. On success `*reader` must be released with dbi_jpeg_close.
int dbi_jpeg_open(const uint8_t *bytes, size_t length, uint64_t max_pixels, dbi_jpeg_reader **reader,
                  dbi_jpeg_image *out, char message[DBI_MESSAGE_LENGTH]);

/// Decodes all rows into `dst` (width * components bytes per row, rows top to bottom; `capacity`
/// bytes available). Returns 0 on success; otherwise writes a message. A truncated stream (libjpeg's
/// "premature end of data" warning) is an error.
int dbi_jpeg_read(dbi_jpeg_reader *reader, uint8_t *dst, size_t capacity, char message[DBI_MESSAGE_LENGTH]);

void dbi_jpeg_close(dbi_jpeg_reader *reader);

/// Pillow's 8-bit resample of an RGB image (`Image.resize`: Resample.c's horizontal pass, then the
/// vertical pass, each rounding to uint8), computing only an output window.
///
/// `src` holds `in_h` rows of `in_w * 3` bytes (`src_len` bytes readable from `src`). Horizontal:
/// `h_bounds` holds `out_w` pairs (first input column, tap count) and `h_kk` `out_w * h_ksize` weights
/// (Pillow's `normalize_coeffs_8bpc` fixed point, 22 bits) for the window's columns; NULL means no
/// horizontal pass, output column c being input column `col0 + c`. Vertical: `v_bounds`/`v_kk` for the
/// window's `out_h` rows in input rows; NULL means no vertical pass, output row r being row `row0 + r`.
/// Only the input rows the window needs are resampled horizontally. Writes `out_h` rows of `out_w * 3`
/// bytes to `dst`. Byte-identical to Pillow whichever kernel runs (AVX-512BW / AVX2 when available, else scalar).
/// Returns non-zero only when out of memory.
int dbi_resample8_rgb(const uint8_t *src, size_t src_len, int32_t in_w, int32_t in_h, const int32_t *h_bounds,
                      const int32_t *h_kk, int32_t h_ksize, int32_t col0, int32_t out_w, const int32_t *v_bounds,
                      const int32_t *v_kk, int32_t v_ksize, int32_t row0, int32_t out_h, uint8_t *dst);

/// Encodes 8-bit RGB (HWC) as PNG at zlib `compression_level` (0...9). `*out` is freed with dbi_free.
int dbi_png_encode_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t compression_level,
                       uint8_t **out, size_t *out_length, char message[DBI_MESSAGE_LENGTH]);

/// Encodes 8-bit RGB (HWC) as baseline JPEG at `quality` with Pillow's `subsampling` codes
/// (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0), islow DCT, standard Huffman tables, JFIF header.
int dbi_jpeg_encode_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality,
                        int32_t subsampling, uint8_t **out, size_t *out_length, char message[DBI_MESSAGE_LENGTH]);

void dbi_free(void *pointer);

#ifdef __cplusplus
}
#endif
