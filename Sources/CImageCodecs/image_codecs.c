// Safe libpng / libjpeg-turbo wrappers: see include/image_codecs.h.
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

static void set_message(char *message, const char *text) {
    if (!message) return;
    snprintf(message, DBI_MESSAGE_LENGTH, "%s", text ? text : "unknown error");
}

void dbi_free(void *pointer) { free(pointer); }

// MARK: - PNG

typedef struct {
    const uint8_t *bytes;
    size_t length;
    size_t offset;
    char *message;
} png_memory_reader;

static void png_read_memory(png_structp png, png_bytep data, size_t count) {
    png_memory_reader *r = (png_memory_reader *)png_get_io_ptr(png);
    if (count > r->length - r->offset) {
        png_error(png, "file is truncated");
    }
    memcpy(data, r->bytes + r->offset, count);
    r->offset += count;
}

static void png_error_handler(png_structp png, png_const_charp text) {
    png_memory_reader *r = (png_memory_reader *)png_get_error_ptr(png);
    if (r && r->message) set_message(r->message, text);
    png_longjmp(png, 1);
}

static void png_warning_handler(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static int png_decode_impl(const uint8_t *bytes, size_t length, uint64_t max_pixels, dbi_png_image *out,
                           char *message, int header_only) {
    memset(out, 0, sizeof(*out));
    if (length < 8 || png_sig_cmp((png_const_bytep)bytes, 0, 8) != 0) {
        set_message(message, "not a PNG file (bad signature)");
        return 1;
    }
    png_memory_reader reader = {bytes, length, 0, message};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_error_handler, png_warning_handler);
    if (!png) {
        set_message(message, "png_create_read_struct failed");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(message, "png_create_info_struct failed");
        return 1;
    }
    uint8_t *volatile data = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(data);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, &reader, png_read_memory);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->bit_depth = bit_depth;
    out->color_type = color_type;
    if (header_only) {
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(message, DBI_MESSAGE_LENGTH, "image of %ux%u pixels exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette = NULL;
        int count = 0;
        if (png_get_PLTE(png, info, &palette, &count) == PNG_INFO_PLTE && palette) {
            if (count > 256) count = 256;
            for (int i = 0; i < count; i++) {
                out->palette[3 * i + 0] = palette[i].red;
                out->palette[3 * i + 1] = palette[i].green;
                out->palette[3 * i + 2] = palette[i].blue;
            }
            out->palette_count = count;
        }
    }
    if (bit_depth < 8) png_set_packing(png);  // one byte per sample, values unscaled
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    out->channels = png_get_channels(png, info);
    out->row_bytes = row_bytes;
    data = (uint8_t *)malloc(row_bytes * (size_t)height + 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * ((size_t)height + 1));
    if (!data || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = data + row_bytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->data = data;
    return 0;
}

int dbi_png_decode(const uint8_t *bytes, size_t length, uint64_t max_pixels, dbi_png_image *out,
                   char message[DBI_MESSAGE_LENGTH]) {
    return png_decode_impl(bytes, length, max_pixels, out, message, 0);
}

int dbi_png_read_header(const uint8_t *bytes, size_t length, dbi_png_image *out, char message[DBI_MESSAGE_LENGTH]) {
    return png_decode_impl(bytes, length, UINT64_MAX, out, message, 1);
}

typedef struct {
    uint8_t *data;
    size_t length;
    size_t capacity;
    char *message;
} png_memory_writer;

static void png_write_memory(png_structp png, png_bytep data, size_t count) {
    png_memory_writer *w = (png_memory_writer *)png_get_io_ptr(png);
    if (w->length + count > w->capacity) {
        size_t capacity = w->capacity ? w->capacity : 4096;
        while (capacity < w->length + count) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(w->data, capacity);
        if (!grown) png_error(png, "out of memory");
        w->data = grown;
        w->capacity = capacity;
    }
    memcpy(w->data + w->length, data, count);
    w->length += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

static void png_write_error_handler(png_structp png, png_const_charp text) {
    png_memory_writer *w = (png_memory_writer *)png_get_error_ptr(png);
    if (w && w->message) set_message(w->message, text);
    png_longjmp(png, 1);
}

int dbi_png_encode_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t compression_level,
                       uint8_t **out, size_t *out_length, char message[DBI_MESSAGE_LENGTH]) {
    *out = NULL;
    *out_length = 0;
    if (width <= 0 || height <= 0) {
        set_message(message, "cannot encode an empty image");
        return 1;
    }
    png_memory_writer writer = {NULL, 0, 0, message};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &writer, png_write_error_handler, png_warning_handler);
    if (!png) {
        set_message(message, "png_create_write_struct failed");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_message(message, "png_create_info_struct failed");
        return 1;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(writer.data);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, &writer, png_write_memory, png_flush_memory);
    png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory");
    for (int32_t y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * 3);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = writer.data;
    *out_length = writer.length;
    return 0;
}

// MARK: - JPEG

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
    unsigned char *memory_destination;  // jpeg_mem_dest's buffer while encoding, freed on error
} jpeg_safe_error;

static void jpeg_error_exit_handler(j_common_ptr cinfo) {
    jpeg_safe_error *err = (jpeg_safe_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    set_message(err->message, buffer);
    longjmp(err->jump, 1);
}

// Warnings are ignored as Pillow ignores them, except the end of data: libjpeg pads a truncated
// stream with gray and warns JWRN_JPEG_EOF, where Pillow raises "image file is truncated".
static void jpeg_emit_message_handler(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_safe_error *err = (jpeg_safe_error *)cinfo->err;
        set_message(err->message, "file is truncated (premature end of JPEG data)");
        longjmp(err->jump, 1);
    }
}

static void jpeg_silent_output(j_common_ptr cinfo) { (void)cinfo; }

struct dbi_jpeg_reader {
    struct jpeg_decompress_struct cinfo;
    jpeg_safe_error err;
};

int dbi_jpeg_open(const uint8_t *bytes, size_t length, uint64_t max_pixels, dbi_jpeg_reader **reader,
                  dbi_jpeg_image *out, char message[DBI_MESSAGE_LENGTH]) {
    memset(out, 0, sizeof(*out));
    *reader = NULL;
    if (length < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8) {
        set_message(message, "not a JPEG file (no SOI marker)");
        return 1;
    }
    dbi_jpeg_reader *r = (dbi_jpeg_reader *)calloc(1, sizeof(dbi_jpeg_reader));
    if (!r) {
        set_message(message, "out of memory");
        return 1;
    }
    struct jpeg_decompress_struct *cinfo = &r->cinfo;
    cinfo->err = jpeg_std_error(&r->err.pub);
    r->err.pub.error_exit = jpeg_error_exit_handler;
    r->err.pub.emit_message = jpeg_emit_message_handler;
    r->err.pub.output_message = jpeg_silent_output;
    r->err.message = message;
    r->err.memory_destination = NULL;
    if (setjmp(r->err.jump)) {
        jpeg_destroy_decompress(cinfo);
        free(r);
        return 1;
    }
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, (const unsigned char *)bytes, (unsigned long)length);
    jpeg_read_header(cinfo, TRUE);
    out->jpeg_color_space = (int32_t)cinfo->jpeg_color_space;
    out->saw_adobe_marker = cinfo->saw_Adobe_marker ? 1 : 0;
    switch (cinfo->num_components) {
    case 1: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case 3: cinfo->out_color_space = JCS_RGB; break;
    case 4: cinfo->out_color_space = JCS_CMYK; break;
    default:
        snprintf(message, DBI_MESSAGE_LENGTH, "JPEG with %d components is not supported (1, 3 or 4)", cinfo->num_components);
        jpeg_destroy_decompress(cinfo);
        free(r);
        return 1;
    }
    // Pillow's defaults (libjpeg's): islow integer IDCT, fancy upsampling, no block smoothing change.
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    if ((uint64_t)cinfo->image_width * (uint64_t)cinfo->image_height > max_pixels) {
        snprintf(message, DBI_MESSAGE_LENGTH, "image of %ux%u pixels exceeds the limit of %llu pixels",
                 (unsigned)cinfo->image_width, (unsigned)cinfo->image_height, (unsigned long long)max_pixels);
        jpeg_destroy_decompress(cinfo);
        free(r);
        return 1;
    }
    jpeg_start_decompress(cinfo);
    out->width = (int32_t)cinfo->output_width;
    out->height = (int32_t)cinfo->output_height;
    out->components = cinfo->output_components;
    *reader = r;
    return 0;
}

int dbi_jpeg_read(dbi_jpeg_reader *r, uint8_t *dst, size_t capacity, char message[DBI_MESSAGE_LENGTH]) {
    struct jpeg_decompress_struct *cinfo = &r->cinfo;
    r->err.message = message;
    size_t stride = (size_t)cinfo->output_width * (size_t)cinfo->output_components;
    if (capacity < stride * cinfo->output_height) {
        set_message(message, "JPEG output buffer too small");
        return 1;
    }
    if (setjmp(r->err.jump)) return 1;
    // Many rows per call: libjpeg returns as many as its current row group holds.
    JSAMPROW rows[32];
    while (cinfo->output_scanline < cinfo->output_height) {
        JDIMENSION first = cinfo->output_scanline, n = cinfo->output_height - first;
        if (n > 32) n = 32;
        for (JDIMENSION i = 0; i < n; i++) rows[i] = dst + stride * (first + i);
        jpeg_read_scanlines(cinfo, rows, n);
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

void dbi_jpeg_close(dbi_jpeg_reader *r) {
    if (!r) return;
    jpeg_destroy_decompress(&r->cinfo);
    free(r);
}

int dbi_jpeg_encode_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality,
                        int32_t subsampling, uint8_t **out, size_t *out_length, char message[DBI_MESSAGE_LENGTH]) {
    *out = NULL;
    *out_length = 0;
    if (width <= 0 || height <= 0 || width > 65500 || height > 65500) {
        set_message(message, "JPEG dimensions must be 1...65500");
        return 1;
    }
    struct jpeg_compress_struct cinfo;
    jpeg_safe_error err;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_handler;
    err.pub.output_message = jpeg_silent_output;
    err.message = message;
    err.memory_destination = NULL;
    unsigned long buffer_length = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(err.memory_destination);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &err.memory_destination, &buffer_length);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    int h = 2, v = 2;  // Pillow's subsampling codes: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    if (subsampling == 0) { h = 1; v = 1; }
    else if (subsampling == 1) { h = 2; v = 1; }
    cinfo.comp_info[0].h_samp_factor = h;
    cinfo.comp_info[0].v_samp_factor = v;
    for (int c = 1; c < 3; c++) {
        cinfo.comp_info[c].h_samp_factor = 1;
        cinfo.comp_info[c].v_samp_factor = 1;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.optimize_coding = FALSE;
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    // jpeg_mem_dest allocates with malloc; hand the buffer over as is.
    *out = (uint8_t *)err.memory_destination;
    *out_length = (size_t)buffer_length;
    return 0;
}
