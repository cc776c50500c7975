// The Winograd transforms for one instruction set; included by winograd.c once per ISA after it
// defines WG_F(name) (suffixed name), WG_ATTR (target attribute), WGV (vector type), WG_VW (lanes)
// and the primitives WG_F(loadr/storen/add/sub/mul/set1/zero/max/deint2/int2/shift1).
// Formulas and operation order: Winograd.swift's inputTransform / outputTransform.

// Bᵀ over six vectors (F(4×4, 3×3)).
WG_ATTR WG_INLINE void WG_F(bt4)(const WGV *d, WGV *o) {
    WGV p12 = WG_F(add)(d[1], d[2]), m12 = WG_F(sub)(d[1], d[2]), p34 = WG_F(add)(d[4], d[3]);
    WGV m43 = WG_F(sub)(d[4], d[3]), m42 = WG_F(sub)(d[4], d[2]), m31 = WG_F(sub)(d[3], d[1]);
    WGV four = WG_F(set1)(4.0f), five = WG_F(set1)(5.0f), two = WG_F(set1)(2.0f);
    o[0] = WG_F(add)(WG_F(sub)(WG_F(mul)(four, d[0]), WG_F(mul)(five, d[2])), d[4]);
    o[1] = WG_F(sub)(p34, WG_F(mul)(four, p12));
    o[2] = WG_F(add)(m43, WG_F(mul)(four, m12));
    o[3] = WG_F(add)(m42, WG_F(mul)(two, m31));
    o[4] = WG_F(sub)(m42, WG_F(mul)(two, m31));
    o[5] = WG_F(add)(WG_F(sub)(WG_F(mul)(four, d[1]), WG_F(mul)(five, d[3])), d[5]);
}

// Bᵀ over four vectors (F(2×2, 3×3)).
WG_ATTR WG_INLINE void WG_F(bt2)(const WGV *d, WGV *o) {
    o[0] = WG_F(sub)(d[0], d[2]);
    o[1] = WG_F(add)(d[1], d[2]);
    o[2] = WG_F(sub)(d[2], d[1]);
    o[3] = WG_F(sub)(d[1], d[3]);
}

// Aᵀ over six vectors plus b (F(4×4)).
WG_ATTR WG_INLINE void WG_F(at4)(const WGV *s, WGV b, WGV *o) {
    WGV p12 = WG_F(add)(s[1], s[2]), d12 = WG_F(sub)(s[1], s[2]);
    WGV p34 = WG_F(add)(s[3], s[4]), d34 = WG_F(sub)(s[3], s[4]);
    o[0] = WG_F(add)(WG_F(add)(WG_F(add)(s[0], p12), p34), b);
    o[1] = WG_F(add)(WG_F(add)(d12, WG_F(mul)(WG_F(set1)(2.0f), d34)), b);
    o[2] = WG_F(add)(WG_F(add)(p12, WG_F(mul)(WG_F(set1)(4.0f), p34)), b);
    o[3] = WG_F(add)(WG_F(add)(WG_F(add)(d12, WG_F(mul)(WG_F(set1)(8.0f), d34)), s[5]), b);
}

// Aᵀ over four vectors plus b (F(2×2)).
WG_ATTR WG_INLINE void WG_F(at2)(const WGV *s, WGV b, WGV *o) {
    o[0] = WG_F(add)(WG_F(add)(WG_F(add)(s[0], s[1]), s[2]), b);
    o[1] = WG_F(add)(WG_F(sub)(WG_F(sub)(s[1], s[2]), s[3]), b);
}

// One tile row of one channel: α input rows from iy0 (zero outside [0, h)), columns from col00
// (zero outside [0, w)); V element (e, tx) at vdst[e · estride + tx].
WG_ATTR WG_INLINE void WG_F(input_row)(const int M, const float *plane, int64_t h, int64_t w, int64_t iy0,
                                      int64_t col00, int64_t tilesW, float *vdst, int64_t estride) {
    const int A = M + 2;
    for (int64_t tx0 = 0; tx0 < tilesW; tx0 += WG_VW) {
        int nt = tilesW - tx0 < WG_VW ? (int)(tilesW - tx0) : WG_VW;
        int64_t col0 = M * tx0 + col00;
        // d[k][q]: input row k, columns col0 + q·VW …; q = M holds the two columns after the chunk.
        WGV d[6][5], t[6][5];
        for (int k = 0; k < A; k++) {
            int64_t iy = iy0 + k;
            if (iy < 0 || iy >= h) {
                for (int q = 0; q <= M; q++) d[k][q] = WG_F(zero)();
                continue;
            }
            const float *row = plane + iy * w;
            for (int q = 0; q <= M; q++) {
                int64_t c = col0 + (int64_t)q * WG_VW;
                int64_t lo = c < 0 ? -c : 0, hi = w - c;
                if (hi > (q == M ? 2 : WG_VW)) hi = q == M ? 2 : WG_VW;
                d[k][q] = lo < hi ? WG_F(loadr)(row + c, (int)lo, (int)hi) : WG_F(zero)();
            }
        }
        // Bᵀ d along rows (over k), for every column vector.
        for (int q = 0; q <= M; q++) {
            WGV col[6], o[6];
            for (int k = 0; k < A; k++) col[k] = d[k][q];
            if (M == 4) WG_F(bt4)(col, o); else WG_F(bt2)(col, o);
            for (int r = 0; r < A; r++) t[r][q] = o[r];
        }
        // (Bᵀ d) B along columns: column m·tx + k of row r is phase k of tile tx (k < m), or
        // phase k − m of tile tx + 1.
        for (int r = 0; r < A; r++) {
            WGV p[6], o[6];
            if (M == 4) {
                WGV ae, ao, ce, co;
                WG_F(deint2)(t[r][0], t[r][1], &ae, &ao);
                WG_F(deint2)(t[r][2], t[r][3], &ce, &co);
                WG_F(deint2)(ae, ce, &p[0], &p[2]);
                WG_F(deint2)(ao, co, &p[1], &p[3]);
            } else {
                WG_F(deint2)(t[r][0], t[r][1], &p[0], &p[1]);
            }
            p[M] = WG_F(shift1)(p[0], t[r][M], 0);
            p[M + 1] = WG_F(shift1)(p[1], t[r][M], 1);
            if (M == 4) WG_F(bt4)(p, o); else WG_F(bt2)(p, o);
            for (int s = 0; s < A; s++) WG_F(storen)(vdst + (int64_t)(r * A + s) * estride + tx0, nt, o[s]);
        }
    }
}

// One tile row of one output channel: M element (e, tx) at msrc[e · estride + tx]; output rows
// oy0 … (clipped at oh) of `plane`, ow columns.
WG_ATTR WG_INLINE void WG_F(output_row)(const int M, const float *msrc, int64_t estride, int64_t tilesW, float *plane,
                                       int64_t oy0, int64_t oh, int64_t ow, float bias, int relu, float scale,
                                       float shift) {
    const int A = M + 2;
    WGV zero = WG_F(zero)(), bv = WG_F(set1)(bias), sc = WG_F(set1)(scale), sh = WG_F(set1)(shift);
    for (int64_t tx0 = 0; tx0 < tilesW; tx0 += WG_VW) {
        int nt = tilesW - tx0 < WG_VW ? (int)(tilesW - tx0) : WG_VW;
        // w[i][s] = Σ_r Aᵀ[i][r] M[(r, s)] (+ 0, as the Swift pass).
        WGV wv[4][6];
        for (int s = 0; s < A; s++) {
            WGV col[6], o[4];
            for (int r = 0; r < A; r++) col[r] = WG_F(loadr)(msrc + (int64_t)(r * A + s) * estride + tx0, 0, nt);
            if (M == 4) WG_F(at4)(col, zero, o); else WG_F(at2)(col, zero, o);
            for (int i = 0; i < M; i++) wv[i][s] = o[i];
        }
        int64_t count = ow - M * tx0;
        if (count > (int64_t)M * nt) count = (int64_t)M * nt;
        for (int i = 0; i < M && oy0 + i < oh; i++) {
            WGV y[4], z[4];
            if (M == 4) WG_F(at4)(wv[i], bv, y); else WG_F(at2)(wv[i], bv, y);
            if (relu)
                for (int j = 0; j < M; j++) y[j] = WG_F(max)(WG_F(add)(WG_F(mul)(y[j], sc), sh), zero);
            if (M == 4) {
                WGV alo, ahi, blo, bhi;
                WG_F(int2)(y[0], y[2], &alo, &ahi);
                WG_F(int2)(y[1], y[3], &blo, &bhi);
                WG_F(int2)(alo, blo, &z[0], &z[1]);
                WG_F(int2)(ahi, bhi, &z[2], &z[3]);
            } else {
                WG_F(int2)(y[0], y[1], &z[0], &z[1]);
            }
            float *row = plane + (oy0 + i) * ow + M * tx0;
            for (int q = 0; q < M; q++) {
                int64_t n = count - (int64_t)q * WG_VW;
                if (n <= 0) break;
                WG_F(storen)(row + (int64_t)q * WG_VW, n > WG_VW ? WG_VW : (int)n, z[q]);
            }
        }
    }
}

#define WG_ROWFN(M)                                                                                            \
    WG_ATTR __attribute__((noinline)) static void WG_F(input_rows##M)(                                       \
        const float *x, int64_t imageStride, int64_t channelStride, int64_t h, int64_t w, int64_t padTop,     \
        int64_t padLeft, int64_t tilesH, int64_t tilesW, int64_t g0, int64_t g1, int64_t c0, int64_t c1,      \
        int64_t cTotal, float *v) {                                                                            \
        int64_t t = (g1 - g0) * tilesW;                                                                        \
        for (int64_t ch = c0; ch < c1; ch++)                                                                   \
            for (int64_t g = g0; g < g1; g++) {                                                                \
                int64_t ty = g % tilesH;                                                                       \
                const float *plane = x + (g / tilesH) * imageStride + ch * channelStride;                     \
                WG_F(input_row)(M, plane, h, w, M * ty - padTop, -padLeft, tilesW,                             \
                                v + ch * t + (g - g0) * tilesW, cTotal * t);                                   \
            }                                                                                                  \
    }                                                                                                          \
    WG_ATTR __attribute__((noinline)) static void WG_F(output_rows##M)(                                      \
        const float *mm, int64_t oTotal, int64_t tilesH, int64_t tilesW, int64_t g0, int64_t g1, int64_t o0,  \
        int64_t o1, float *out, int64_t imageStride, int64_t channelStride, int64_t oh, int64_t ow,           \
        const float *bias, const float *scale, const float *shift) {                                          \
        int64_t t = (g1 - g0) * tilesW;                                                                        \
        int relu = scale != 0 && shift != 0;                                                                   \
        for (int64_t oc = o0; oc < o1; oc++)                                                                   \
            for (int64_t g = g0; g < g1; g++) {                                                                \
                int64_t ty = g % tilesH;                                                                       \
                float *plane = out + (g / tilesH) * imageStride + oc * channelStride;                         \
                WG_F(output_row)(M, mm + oc * t + (g - g0) * tilesW, oTotal * t, tilesW, plane, M * ty, oh, ow, \
                                 bias ? bias[oc] : 0.0f, relu, relu ? scale[oc] : 1.0f, relu ? shift[oc] : 0.0f); \
            }                                                                                                  \
    }
WG_ROWFN(2)
WG_ROWFN(4)
#undef WG_ROWFN
