/* conv_direct_pass.h — the passes of conv2d's direct path (conv_direct.h has the rule, the layout
 * and the kernels): the weights in the kernels' order, the source planes (zero-padded CHW, split
 * into parity phases at stride 2), the emits from the staging buffer, and absa_dconv_fwd /
 * absa_dconv_bwd, called by conv_pass_impl.h for the layers of absa_dconv_eligible. Included by
 * conv_direct.h in the float32 inclusion of an FMA path only. Threads run over samples, each with
 * its workspace slot; the weight-gradient and bias partials are added in thread order. */

/* Forward: wk[(t*C + c)*Opad + o] = W[o][c][t] (zeros past O). Data gradient: for each phase's
 * taps in absa_dconv_dtaps order, wk[(n*O + o)*Cpad + c] = W[o][c][its tap] (zeros past C). */
static void absa_dconv_weights(const absa_conv_cfg *c, const absa_dconv_lay *l, const float *W, float *wk,
                               int data)
{
    const int C = c->C, O = c->O, kk = l->k * l->k;
    if (!data) {
        memset(wk, 0, (size_t)kk * C * l->Opad * sizeof(float));
        for (int o = 0; o < O; o++)
            for (int ch = 0; ch < C; ch++)
                for (int t = 0; t < kk; t++)
                    wk[((size_t)t * C + ch) * l->Opad + o] = W[((size_t)o * C + ch) * kk + t];
        return;
    }
    memset(wk, 0, (size_t)kk * O * l->Cpad * sizeof(float));
    int n0 = 0, wt[9];
    ptrdiff_t off[9];
    for (int ph = 0; ph < (l->s == 1 ? 1 : 4); ph++) {
        const int nt = absa_dconv_dtaps(l, ph, wt, off);
        for (int n = 0; n < nt; n++)
            for (int o = 0; o < O; o++)
                for (int ch = 0; ch < C; ch++)
                    wk[((size_t)(n0 + n) * O + o) * l->Cpad + ch] = W[((size_t)o * C + ch) * kk + wt[n]];
        n0 += nt;
    }
}

/* dst (C zero-padded planes of (H+2) x (W+2), borders already zero) = the interior copy of src
 * (C x H x W): dy's planes, and x's at stride 1. */
static void absa_dconv_padchw(const float *src, int C, int H, int W, float *dst)
{
    const size_t wp = (size_t)W + 2, pl = (size_t)(H + 2) * wp;
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            memcpy(dst + (size_t)c * pl + (size_t)(h + 1) * wp + 1, src + ((size_t)c * H + h) * W,
                   (size_t)W * sizeof(float));
}

/* dst = x's forward planes (borders already zero): stride 1 the padded CHW copy; stride 2 per
 * channel the parity phases (a, b) of the padded plane, phase[a][b][r][q] = xpad[2r + a][2q + b]
 * (1x1: phase (0, 0) only). */
ABSA_CONV_SIMD static void absa_dconv_planes(const absa_conv_cfg *c, const absa_dconv_lay *l, const float *x,
                                             float *dst)
{
    if (l->s == 1) {
        absa_dconv_padchw(x, c->C, c->H, c->W, dst);
        return;
    }
    const int p = l->p, W = c->W;
    const size_t phs = (size_t)l->Hq * l->Wq;
    for (int ch = 0; ch < c->C; ch++)
        for (int y = 0; y < c->H; y++) {
            const int R = y + p, a = R & 1;
            if (a && l->nph == 1) continue;
            const float *s = x + ((size_t)ch * c->H + y) * W;
            float *row = dst + (size_t)ch * l->fpl + (size_t)a * 2 * phs + (size_t)(R >> 1) * l->Wq;
            float *ev = row + (size_t)(p & 1) * phs + (p >> 1); /* x even: X = x + p */
            float *od = row + (size_t)((p + 1) & 1) * phs + ((p + 1) >> 1); /* x odd */
            const int ne = (W + 1) / 2, no = W / 2;
            if (l->nph == 1) { /* 1x1, p = 0: the even columns only */
                for (int q = 0; q < ne; q++) ev[q] = s[2 * q];
                continue;
            }
            int q = 0;
            for (; 2 * q + 16 <= W; q += 8) { /* 16 columns: 8 even, 8 odd */
                absa_v8f v0, v1;
                memcpy(&v0, s + 2 * q, 32);
                memcpy(&v1, s + 2 * q + 8, 32);
                const absa_v8f e = __builtin_shufflevector(v0, v1, 0, 2, 4, 6, 8, 10, 12, 14);
                const absa_v8f o = __builtin_shufflevector(v0, v1, 1, 3, 5, 7, 9, 11, 13, 15);
                memcpy(ev + q, &e, 32);
                memcpy(od + q, &o, 32);
            }
            for (int r = q; r < ne; r++) ev[r] = s[2 * r];
            for (int r = q; r < no; r++) od[r] = s[2 * r + 1];
        }
}

/* out[o][r][q] = stage[o*stl + r*rowlen + q] (+ bias[o]) for the nr x nq grid (a flat run). */
static void absa_dconv_emit_rows(const float *stage, size_t stl, int rowlen, int O, int nr, int nq, float *out,
                                 int add, const float *bias)
{
    for (int o = 0; o < O; o++)
        for (int r = 0; r < nr; r++) {
            const float *s = stage + (size_t)o * stl + (size_t)r * rowlen;
            float *d = out + ((size_t)o * nr + r) * nq;
            const float bo = bias ? bias[o] : 0.0f;
            for (int q = 0; q < nq; q++) {
                const float v = bias ? s[q] + bo : s[q];
                d[q] = add ? d[q] + v : v;
            }
        }
}

/* dx[ch][2r + a - p][2q + b - p] (+)= stage[ch*stl + (r - r0)*Wd + q - q0]: one parity phase's
 * data gradient into its places in dx (C x H x W); stage NULL: a phase no tap reaches (1x1 at an
 * odd row or column), whose places get zeros (nothing when add). */
static void absa_dconv_emit_phase(const absa_conv_cfg *c, const absa_dconv_lay *l, const float *stage, int a,
                                  int b, int r0, int nr, int q0, int nq, float *dx, int add)
{
    if (!stage && add) return;
    for (int ch = 0; ch < c->C; ch++)
        for (int r = 0; r < nr; r++) {
            const float *s = stage ? stage + (size_t)ch * l->stl + (size_t)r * l->Wd : NULL;
            float *d = dx + ((size_t)ch * c->H + 2 * (r0 + r) + a - l->p) * c->W + b - l->p + 2 * q0;
            if (!s)
                for (int q = 0; q < nq; q++) d[2 * q] = 0.0f;
            else if (add)
                for (int q = 0; q < nq; q++) d[2 * q] += s[q];
            else
                for (int q = 0; q < nq; q++) d[2 * q] = s[q];
        }
}

/* The forward taps' offsets in x's planes from an output position's (h*Wq + w). */
static void absa_dconv_ftaps(const absa_dconv_lay *l, ptrdiff_t *toff)
{
    const size_t phs = (size_t)l->Hq * l->Wq;
    for (int t = 0; t < l->k * l->k; t++) {
        const int i = t / l->k, j = t % l->k;
        toff[t] = l->s == 1 ? (ptrdiff_t)i * l->Wq + j
                            : (ptrdiff_t)(((i & 1) * 2 + (j & 1)) * phs) + (ptrdiff_t)(i >> 1) * l->Wq + (j >> 1);
    }
}

/* y = conv(x, A) [+ conv(Rx, B) when Rx] + b, overwriting y; with a fused max-pool (fp) each
 * sample's output goes to the slot's z and is pooled from there (absa_conv_fuse_out). */
static void absa_dconv_fwd(const absa_conv_cfg *c, const float *x, const float *Rx, const float *A,
                           const float *B, const float *b, float *y, float *ws, const absa_conv_fuse *fp)
{
    absa_dconv_lay l;
    absa_dconv_layout(c, fp != NULL, &l);
    const size_t xsz = (size_t)c->C * c->H * c->W, ysz = (size_t)c->O * c->Ho * c->Wo;
    const size_t src = (size_t)c->C * l.fpl + ABSA_DCONV_SLACK;
    absa_dconv_weights(c, &l, A, ws + l.o_wA, 0);
    if (Rx) absa_dconv_weights(c, &l, B, ws + l.o_wB, 0);
    absa_dpix g = {.nr = c->Ho, .nq = c->Wo, .rowlen = l.Wq, .cin = c->C, .cout = c->O, .cpad = l.Opad,
                   .nt = l.k * l.k, .pl = l.fpl, .orow = (size_t)c->Wo};
    g.flat = absa_dconv_flat(g.nr, g.nq, g.rowlen);
    g.ostr = g.flat ? l.stl : (size_t)c->Ho * c->Wo;
    absa_dconv_ftaps(&l, g.toff);
    const int T = absa_conv_threads(c->N);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *slot = ws + l.shared + (size_t)absa_conv_tid() * l.slot;
        float *cx = slot + l.o_s0, *cR = slot + l.o_s1, *st = slot + l.o_st;
        memset(cx, 0, src * sizeof(float));
        if (Rx) memset(cR, 0, src * sizeof(float));
        const float *xs[2] = {cx, cR}, *wk[2] = {ws + l.o_wA, ws + l.o_wB};
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            absa_dconv_planes(c, &l, x + n * xsz, cx);
            if (Rx) absa_dconv_planes(c, &l, Rx + n * xsz, cR);
            float *yn = fp ? slot + l.o_z : y + n * ysz;
            if (!g.flat) {
                absa_dconv_pix(&g, Rx ? 2 : 1, xs, wk, yn, 0, b);
            } else {
                absa_dconv_pix(&g, Rx ? 2 : 1, xs, wk, st, 0, NULL);
                absa_dconv_emit_rows(st, l.stl, l.Wq, c->O, c->Ho, c->Wo, yn, 0, b);
            }
            if (fp) absa_conv_fuse_out_f32(fp, n, yn, y);
        }
    }
}

/* One sample's data gradient dx (+)= convT(dA, A) [+ convT(dB, B)]: cs the slot's dy planes
 * (already filled), st its staging buffer. */
static void absa_dconv_dx(const absa_conv_cfg *c, const absa_dconv_lay *l, int ns, const float *cA,
                          const float *cB, const float *wA, const float *wB, float *st, float *dx)
{
    const int add = !c->dx_set;
    int wt[9], n0 = 0;
    absa_dpix g = {.rowlen = l->Wd, .cin = c->O, .cout = c->C, .cpad = l->Cpad, .pl = l->dpl};
    if (l->s == 1) {
        g.nt = absa_dconv_dtaps(l, 0, wt, g.toff);
        g.nr = c->H, g.nq = c->W, g.orow = (size_t)c->W;
        g.flat = absa_dconv_flat(g.nr, g.nq, g.rowlen);
        g.ostr = g.flat ? l->stl : (size_t)c->H * c->W;
        const float *cs[2] = {cA, cB}, *wk[2] = {wA, wB};
        if (!g.flat) {
            absa_dconv_pix(&g, ns, cs, wk, dx, add, NULL);
            return;
        }
        absa_dconv_pix(&g, ns, cs, wk, st, 0, NULL);
        absa_dconv_emit_rows(st, l->stl, l->Wd, c->C, c->H, c->W, dx, add, NULL);
        return;
    }
    for (int ph = 0; ph < 4; ph++) {
        const int a = ph / 2, b = ph % 2;
        int r0, q0;
        const int nr = absa_dconv_prange(a, l->p, c->H, &r0), nq = absa_dconv_prange(b, l->p, c->W, &q0);
        g.nt = absa_dconv_dtaps(l, ph, wt, g.toff);
        if (nr <= 0 || nq <= 0) {
            n0 += g.nt;
            continue;
        }
        if (g.nt == 0) { /* 1x1 at an odd row or column: no tap reaches it */
            absa_dconv_emit_phase(c, l, NULL, a, b, r0, nr, q0, nq, dx, add);
            continue;
        }
        /* staged either way, rows of Wd as the flat run's */
        g.nr = nr, g.nq = nq, g.flat = absa_dconv_flat(nr, nq, l->Wd), g.ostr = l->stl, g.orow = (size_t)l->Wd;
        const size_t base = (size_t)(r0 + 1) * l->Wd + (size_t)(q0 + 1);
        const float *cs[2] = {cA + base, cB ? cB + base : NULL};
        const float *wk[2] = {wA + (size_t)n0 * c->O * l->Cpad, wB ? wB + (size_t)n0 * c->O * l->Cpad : NULL};
        absa_dconv_pix(&g, ns, cs, wk, st, 0, NULL);
        absa_dconv_emit_phase(c, l, st, a, b, r0, nr, q0, nq, dx, add);
        n0 += g.nt;
    }
}

/* dx += convT(dyA, A) [+ convT(dyB, B)];  dW += corr(dyB ? dyB : dyA, x) [+ corr(dyA, Rx) when
 * dyB and Rx];  db += sum(dyB ? dyB : dyA): as absa_conv_bwd, with a fused max-pool (fp) on the
 * pool's (and ReLU's) backward of dyA and dyB in the slot (absa_conv_fuse_dys). */
static void absa_dconv_bwd(const absa_conv_cfg *c, const float *x, const float *Rx, const float *dyA,
                           const float *dyB, const float *A, const float *B, float *dx, float *dW,
                           float *db, float *ws, const absa_conv_fuse *fp)
{
    absa_dconv_lay l;
    absa_dconv_layout(c, fp != NULL, &l);
    const int C = c->C, O = c->O, P = c->Ho * c->Wo, kk = l.k * l.k;
    const size_t xsz = (size_t)C * c->H * c->W, ysz = (size_t)O * P, fsz = (size_t)kk * C * l.Opad;
    const size_t src = (size_t)O * l.dpl + ABSA_DCONV_SLACK;
    const size_t xhn = (size_t)(c->H + 2 * l.p) * (c->W + 2 * l.p) * C, dhn = (size_t)P * l.Opad;
    if (dx) {
        absa_dconv_weights(c, &l, A, ws + l.o_wA, 1);
        if (dyB) absa_dconv_weights(c, &l, B, ws + l.o_wB, 1);
    }
    int T = absa_conv_threads(c->N);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *slot = ws + l.shared + (size_t)absa_conv_tid() * l.slot;
        float *cA = slot + l.o_s0, *cB = slot + l.o_s1, *px = slot + l.o_xh, *ht = slot + l.o_dh;
        float *fw = slot + l.o_fw, *pb = slot + l.o_pb, *st = slot + l.o_st;
        if (absa_conv_tid() == 0) T = absa_conv_team(); /* the team may be smaller than asked */
        if (dx) memset(cA, 0, src * sizeof(float));
        if (dx && dyB) memset(cB, 0, src * sizeof(float));
        if (dW) {
            memset(px, 0, xhn * sizeof(float));
            memset(ht, 0, dhn * sizeof(float));
            memset(fw, 0, fsz * sizeof(float));
        }
        if (db) memset(pb, 0, (size_t)O * sizeof(float));
#pragma omp for schedule(static)
        for (int n = 0; n < c->N; n++) {
            const float *dA, *dB;
            absa_conv_fuse_dys_f32(fp, n, ysz, dyA, dyB, slot + l.o_t, slot + l.o_z, slot + l.o_z2, &dA, &dB);
            const float *dWdy = dB ? dB : dA;
            if (db) absa_conv_bias_sum_f32(O, P, dWdy, pb);
            if (dW) { /* px: x (then Rx) padded in HWC; ht: the dy it pairs with in HWC */
                const size_t wp = (size_t)c->W + 2 * l.p;
                absa_conv_pad_f32(x + n * xsz, C, c->H, c->W, px, wp, l.p, l.p);
                absa_conv_transpose_f32(dWdy, (size_t)P, ht, (size_t)l.Opad, O, P, 0, NULL);
                absa_dconv_dw(c, &l, px, ht, fw);
                if (dB && Rx) {
                    absa_conv_pad_f32(Rx + n * xsz, C, c->H, c->W, px, wp, l.p, l.p);
                    absa_conv_transpose_f32(dA, (size_t)P, ht, (size_t)l.Opad, O, P, 0, NULL);
                    absa_dconv_dw(c, &l, px, ht, fw);
                }
            }
            if (!dx) continue;
            absa_dconv_padchw(dA, O, c->Ho, c->Wo, cA);
            if (dB) absa_dconv_padchw(dB, O, c->Ho, c->Wo, cB);
            absa_dconv_dx(c, &l, dB ? 2 : 1, cA, dB ? cB : NULL, ws + l.o_wA, dB ? ws + l.o_wB : NULL, st,
                          dx + n * xsz);
        }
    }
    /* the threads' partials in thread order: db += each slot's; F = slot 0's + the others' */
    const float *f0 = absa_wino_sum_partials_f32(ws, l.shared, l.slot, l.o_fw, l.o_pb, T, fsz, dW != NULL, db, O);
    if (!dW) return;
    for (int o = 0; o < O; o++)
        for (int ch = 0; ch < C; ch++)
            for (int t = 0; t < kk; t++)
                dW[((size_t)o * C + ch) * kk + t] += f0[((size_t)t * C + ch) * l.Opad + o];
}
