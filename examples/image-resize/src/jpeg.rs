//! A baseline JPEG encoder (ITU T.81), for the one thing this example encodes: an 8-bit RGB or
//! gray image at a libjpeg-style quality. Colour is written as YCbCr with 4:2:0 chroma
//! subsampling, as libjpeg, libvips/sharp and browsers' canvas encoders do by default, with the
//! standard tables of Annex K and a float AAN forward DCT (libjpeg's `jfdctflt`).
//!
//! The `image` crate's encoder (0.24) writes 4:4:4 (twice the blocks), reads every pixel through
//! `GenericImageView` and quantizes with a float division per coefficient: it was a quarter of a
//! 1600×1200 → 400 px request. See README.md, "Speed".
//!
//! The image is converted one row of MCUs (16 pixel rows) at a time, so memory stays a few rows
//! wide whatever the height.

/// The largest width or height a JPEG frame header can carry.
pub const MAX_SIDE: u32 = 65_535;

/// Annex K.1, table K.1: luminance quantization, in natural (row-major) order.
#[rustfmt::skip]
const LUMA_Q: [u16; 64] = [
    16, 11, 10, 16,  24,  40,  51,  61,
    12, 12, 14, 19,  26,  58,  60,  55,
    14, 13, 16, 24,  40,  57,  69,  56,
    14, 17, 22, 29,  51,  87,  80,  62,
    18, 22, 37, 56,  68, 109, 103,  77,
    24, 35, 55, 64,  81, 104, 113,  92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103,  99,
];

/// Annex K.1, table K.2: chrominance quantization, in natural order.
#[rustfmt::skip]
const CHROMA_Q: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// The natural index of each zigzag position (figure A.6).
#[rustfmt::skip]
const ZIGZAG: [usize; 64] = [
     0,  1,  8, 16,  9,  2,  3, 10, 17, 24, 32, 25, 18, 11,  4,  5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13,  6,  7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A Huffman table as DHT carries it (Annex K.3): how many codes of each length 1..=16, then
/// the symbols in code order.
struct HuffSpec {
    counts: [u8; 16],
    symbols: &'static [u8],
}

const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/// Table K.3.
const LUMA_DC: HuffSpec = HuffSpec { counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], symbols: &DC_SYMBOLS };
/// Table K.4.
const CHROMA_DC: HuffSpec = HuffSpec { counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], symbols: &DC_SYMBOLS };
/// Table K.5.
const LUMA_AC: HuffSpec = HuffSpec { counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d], symbols: &LUMA_AC_SYMBOLS };
/// Table K.6.
const CHROMA_AC: HuffSpec = HuffSpec { counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], symbols: &CHROMA_AC_SYMBOLS };

#[rustfmt::skip]
const LUMA_AC_SYMBOLS: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

#[rustfmt::skip]
const CHROMA_AC_SYMBOLS: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// libjpeg's AAN scale factors: the float DCT's output for frequency k is the true coefficient
/// times 8 × `AAN_SCALE[k]` (per axis), undone in the quantization divisors.
const AAN_SCALE: [f32; 8] = [1.0, 1.387_039_8, 1.306_563, 1.175_875_6, 1.0, 0.785_694_96, 0.541_196_1, 0.275_899_38];

/// Code and length of every symbol (Annex C), built from a spec.
struct Codes {
    code: [u16; 256],
    len: [u8; 256],
}

impl Codes {
    fn new(spec: &HuffSpec) -> Codes {
        let mut codes = Codes { code: [0; 256], len: [0; 256] };
        let mut code: u16 = 0;
        let mut k = 0;
        for (i, &count) in spec.counts.iter().enumerate() {
            for _ in 0..count {
                let symbol = usize::from(spec.symbols[k]);
                codes.code[symbol] = code;
                codes.len[symbol] = i as u8 + 1;
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        codes
    }
}

/// Quantization table scaled for `quality` as libjpeg's `jpeg_set_quality` does, in natural order.
fn scaled_table(base: &[u16; 64], quality: u8) -> [u8; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let mut out = [0u8; 64];
    for (o, &b) in out.iter_mut().zip(base) {
        *o = ((u32::from(b) * scale + 50) / 100).clamp(1, 255) as u8;
    }
    out
}

/// The multipliers that turn the AAN DCT's output into quantized coefficients, in natural order.
fn divisors(table: &[u8; 64]) -> [f32; 64] {
    let mut out = [0f32; 64];
    for (i, o) in out.iter_mut().enumerate() {
        *o = 1.0 / (f32::from(table[i]) * AAN_SCALE[i / 8] * AAN_SCALE[i % 8] * 8.0);
    }
    out
}

/// The forward DCT of one 8×8 block of level-shifted samples, in place (libjpeg's `jfdctflt`,
/// the Arai–Agui–Nakajima algorithm: 5 multiplications per 8 points).
fn fdct(block: &mut [f32; 64]) {
    fn pass(d: &mut [f32; 64], at: impl Fn(usize, usize) -> usize) {
        for i in 0..8 {
            let p = |k: usize| at(i, k);
            let tmp0 = d[p(0)] + d[p(7)];
            let tmp7 = d[p(0)] - d[p(7)];
            let tmp1 = d[p(1)] + d[p(6)];
            let tmp6 = d[p(1)] - d[p(6)];
            let tmp2 = d[p(2)] + d[p(5)];
            let tmp5 = d[p(2)] - d[p(5)];
            let tmp3 = d[p(3)] + d[p(4)];
            let tmp4 = d[p(3)] - d[p(4)];
            // Even part.
            let tmp10 = tmp0 + tmp3;
            let tmp13 = tmp0 - tmp3;
            let tmp11 = tmp1 + tmp2;
            let tmp12 = tmp1 - tmp2;
            d[p(0)] = tmp10 + tmp11;
            d[p(4)] = tmp10 - tmp11;
            let z1 = (tmp12 + tmp13) * 0.707_106_77;
            d[p(2)] = tmp13 + z1;
            d[p(6)] = tmp13 - z1;
            // Odd part.
            let tmp10 = tmp4 + tmp5;
            let tmp11 = tmp5 + tmp6;
            let tmp12 = tmp6 + tmp7;
            let z5 = (tmp10 - tmp12) * 0.382_683_43;
            let z2 = 0.541_196_1 * tmp10 + z5;
            let z4 = 1.306_563 * tmp12 + z5;
            let z3 = tmp11 * 0.707_106_77;
            let z11 = tmp7 + z3;
            let z13 = tmp7 - z3;
            d[p(5)] = z13 + z2;
            d[p(3)] = z13 - z2;
            d[p(1)] = z11 + z4;
            d[p(7)] = z11 - z4;
        }
    }
    pass(block, |row, k| row * 8 + k);
    pass(block, |col, k| k * 8 + col);
}

/// Entropy-coded output with 0xFF byte stuffing.
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    /// Appends the low `len` (≤ 16) bits of `value`.
    #[inline]
    fn put(&mut self, value: u32, len: u32) {
        self.acc = (self.acc << len) | (value & ((1 << len) - 1));
        self.n += len;
        while self.n >= 8 {
            self.n -= 8;
            let byte = (self.acc >> self.n) as u8;
            self.out.push(byte);
            if byte == 0xff {
                self.out.push(0);
            }
        }
        self.acc &= (1 << self.n) - 1;
    }

    /// Pads the last byte with 1 bits (F.1.2.3).
    fn flush(&mut self) {
        if self.n > 0 {
            self.put(0x7f, 8 - self.n);
        }
    }
}

/// One component's coding state: its quantization multipliers, tables and the previous DC.
struct Component<'a> {
    divisors: &'a [f32; 64],
    dc: &'a Codes,
    ac: &'a Codes,
    prev_dc: i32,
}

/// The size category of a value and its bits (F.1.2.1): negative values as value - 1.
#[inline]
fn category(v: i32) -> (u32, u32) {
    let size = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { (v - 1) as u32 } else { v as u32 };
    (size, bits)
}

impl Component<'_> {
    /// Transforms, quantizes and writes one block of level-shifted samples.
    fn block(&mut self, samples: &mut [f32; 64], bits: &mut Bits) {
        fdct(samples);
        let mut q = [0i32; 64];
        for (k, &n) in ZIGZAG.iter().enumerate() {
            // Round half up, as libjpeg does, without a call to roundf.
            let v = (samples[n] * self.divisors[n] + 16_384.5) as i32 - 16_384;
            // Baseline: DC differences fit 11 bits, AC values 10.
            q[k] = if k == 0 { v.clamp(-2047, 2047) } else { v.clamp(-1023, 1023) };
        }
        let diff = q[0] - self.prev_dc;
        self.prev_dc = q[0];
        let (size, value) = category(diff);
        bits.put(u32::from(self.dc.code[size as usize]), u32::from(self.dc.len[size as usize]));
        if size > 0 {
            bits.put(value, size);
        }
        let mut run = 0;
        for &v in &q[1..] {
            if v == 0 {
                run += 1;
                continue;
            }
            while run > 15 {
                bits.put(u32::from(self.ac.code[0xf0]), u32::from(self.ac.len[0xf0]));
                run -= 16;
            }
            let (size, value) = category(v);
            let symbol = (run << 4 | size) as usize;
            bits.put(u32::from(self.ac.code[symbol]), u32::from(self.ac.len[symbol]));
            bits.put(value, size);
            run = 0;
        }
        if run > 0 {
            bits.put(u32::from(self.ac.code[0]), u32::from(self.ac.len[0]));
        }
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xff, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// SOI, JFIF, DQT, SOF0 and DHT; `components` is (id, sampling, table) for each.
fn headers(width: u32, height: u32, tables: &[[u8; 64]], components: &[(u8, u8, u8)], huffman: &[(u8, &HuffSpec)]) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8];
    segment(&mut out, 0xe0, &[b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    let mut dqt = Vec::new();
    for (id, t) in tables.iter().enumerate() {
        dqt.push(id as u8);
        dqt.extend(ZIGZAG.iter().map(|&n| t[n]));
    }
    segment(&mut out, 0xdb, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&(height as u16).to_be_bytes());
    sof.extend_from_slice(&(width as u16).to_be_bytes());
    sof.push(components.len() as u8);
    for &(id, sampling, table) in components {
        sof.extend_from_slice(&[id, sampling, table]);
    }
    segment(&mut out, 0xc0, &sof);
    let mut dht = Vec::new();
    for &(class_id, spec) in huffman {
        dht.push(class_id);
        dht.extend_from_slice(&spec.counts);
        dht.extend_from_slice(spec.symbols);
    }
    segment(&mut out, 0xc4, &dht);
    out
}

fn check(width: u32, height: u32, len: usize, channels: usize) -> Result<(), String> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!("a JPEG is 1 to {} pixels a side, not {}x{}", MAX_SIDE, width, height));
    }
    if len != width as usize * height as usize * channels {
        return Err(format!("{} bytes of samples for {}x{}x{}", len, width, height, channels));
    }
    Ok(())
}

/// Encodes 8-bit RGB samples (`width` × `height` × 3) as a YCbCr 4:2:0 baseline JPEG.
pub fn encode_rgb(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, String> {
    check(width, height, rgb.len(), 3)?;
    let (luma_t, chroma_t) = (scaled_table(&LUMA_Q, quality), scaled_table(&CHROMA_Q, quality));
    let (luma_d, chroma_d) = (divisors(&luma_t), divisors(&chroma_t));
    let (ldc, lac, cdc, cac) = (Codes::new(&LUMA_DC), Codes::new(&LUMA_AC), Codes::new(&CHROMA_DC), Codes::new(&CHROMA_AC));
    let mut out = headers(width, height, &[luma_t, chroma_t], &[(1, 0x22, 0), (2, 0x11, 1), (3, 0x11, 1)], &[(0x00, &LUMA_DC), (0x10, &LUMA_AC), (0x01, &CHROMA_DC), (0x11, &CHROMA_AC)]);
    segment(&mut out, 0xda, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);

    let (w, h) = (width as usize, height as usize);
    let mcus_x = (w + 15) / 16;
    let padded = mcus_x * 16;
    let mut y_comp = Component { divisors: &luma_d, dc: &ldc, ac: &lac, prev_dc: 0 };
    let mut cb_comp = Component { divisors: &chroma_d, dc: &cdc, ac: &cac, prev_dc: 0 };
    let mut cr_comp = Component { divisors: &chroma_d, dc: &cdc, ac: &cac, prev_dc: 0 };
    let mut bits = Bits { out, acc: 0, n: 0 };
    // One row of MCUs: 16 rows of level-shifted Y, Cb and Cr at full resolution, edges repeated.
    let mut planes = vec![0f32; 3 * 16 * padded];
    let mut block = [0f32; 64];
    for my in 0..(h + 15) / 16 {
        let (yp, rest) = planes.split_at_mut(16 * padded);
        let (cbp, crp) = rest.split_at_mut(16 * padded);
        for r in 0..16 {
            let sy = (my * 16 + r).min(h - 1);
            let src = &rgb[sy * w * 3..(sy + 1) * w * 3];
            for x in 0..padded {
                let i = x.min(w - 1) * 3;
                let (red, green, blue) = (f32::from(src[i]), f32::from(src[i + 1]), f32::from(src[i + 2]));
                let o = r * padded + x;
                yp[o] = 0.299 * red + 0.587 * green + 0.114 * blue - 128.0;
                cbp[o] = -0.168_735_9 * red - 0.331_264_1 * green + 0.5 * blue;
                crp[o] = 0.5 * red - 0.418_687_6 * green - 0.081_312_4 * blue;
            }
        }
        for mx in 0..mcus_x {
            let x0 = mx * 16;
            for (by, bx) in [(0, 0), (0, 8), (8, 0), (8, 8)] {
                for r in 0..8 {
                    let from = (by + r) * padded + x0 + bx;
                    block[r * 8..r * 8 + 8].copy_from_slice(&yp[from..from + 8]);
                }
                y_comp.block(&mut block, &mut bits);
            }
            for (plane, comp) in [(&*cbp, &mut cb_comp), (&*crp, &mut cr_comp)] {
                // Each chroma sample is the mean of a 2×2 square.
                for r in 0..8 {
                    let (a, b) = ((2 * r) * padded + x0, (2 * r + 1) * padded + x0);
                    for c in 0..8 {
                        block[r * 8 + c] = 0.25 * (plane[a + 2 * c] + plane[a + 2 * c + 1] + plane[b + 2 * c] + plane[b + 2 * c + 1]);
                    }
                }
                comp.block(&mut block, &mut bits);
            }
        }
    }
    bits.flush();
    let mut out = bits.out;
    out.extend_from_slice(&[0xff, 0xd9]);
    Ok(out)
}

/// Encodes 8-bit gray samples (`width` × `height`) as a one-component baseline JPEG.
pub fn encode_gray(gray: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, String> {
    check(width, height, gray.len(), 1)?;
    let table = scaled_table(&LUMA_Q, quality);
    let d = divisors(&table);
    let (dc, ac) = (Codes::new(&LUMA_DC), Codes::new(&LUMA_AC));
    let mut out = headers(width, height, &[table], &[(1, 0x11, 0)], &[(0x00, &LUMA_DC), (0x10, &LUMA_AC)]);
    segment(&mut out, 0xda, &[1, 1, 0x00, 0, 63, 0]);
    let (w, h) = (width as usize, height as usize);
    let mut comp = Component { divisors: &d, dc: &dc, ac: &ac, prev_dc: 0 };
    let mut bits = Bits { out, acc: 0, n: 0 };
    let mut block = [0f32; 64];
    for by in 0..(h + 7) / 8 {
        for bx in 0..(w + 7) / 8 {
            for r in 0..8 {
                let row = &gray[(by * 8 + r).min(h - 1) * w..][..w];
                for c in 0..8 {
                    block[r * 8 + c] = f32::from(row[(bx * 8 + c).min(w - 1)]) - 128.0;
                }
            }
            comp.block(&mut block, &mut bits);
        }
    }
    bits.flush();
    let mut out = bits.out;
    out.extend_from_slice(&[0xff, 0xd9]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegDecoder;
    use image::DynamicImage;
    use std::io::Cursor;

    fn decode(bytes: &[u8]) -> DynamicImage {
        DynamicImage::from_decoder(JpegDecoder::new(Cursor::new(bytes)).expect("a JPEG header")).expect("decodes")
    }

    /// Peak signal-to-noise ratio in dB between two sample buffers.
    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mse: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
        10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
    }

    fn photo(w: usize, h: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let noise = ((x as u32).wrapping_mul(2_654_435_761) ^ (y as u32).wrapping_mul(40_503)) >> 28;
                out.extend_from_slice(&[((x * 255) / w) as u8 ^ noise as u8, ((y * 255) / h) as u8, (128.0 + 100.0 * ((x + y) as f64 / 9.0).sin()) as u8]);
            }
        }
        out
    }

    #[test]
    fn the_zigzag_order_walks_the_diagonals() {
        let mut walked: Vec<usize> = Vec::new();
        for s in 0..15usize {
            let cells: Vec<usize> = (0..8).filter_map(|r| s.checked_sub(r).filter(|c| *c < 8).map(|c| r * 8 + c)).collect();
            // Even diagonals go up (row falling), odd ones down.
            if s % 2 == 0 {
                walked.extend(cells.iter().rev());
            } else {
                walked.extend(cells.iter());
            }
        }
        assert_eq!(walked, ZIGZAG.to_vec());
    }

    #[test]
    fn the_huffman_specs_are_complete_prefix_codes() {
        for spec in [&LUMA_DC, &CHROMA_DC, &LUMA_AC, &CHROMA_AC] {
            assert_eq!(spec.counts.iter().map(|c| usize::from(*c)).sum::<usize>(), spec.symbols.len());
            // Kraft sum below 1: no code is all 1 bits (C.2 reserves it).
            let kraft: f64 = spec.counts.iter().enumerate().map(|(i, c)| f64::from(*c) / 2f64.powi(i as i32 + 1)).sum();
            assert!(kraft < 1.0);
        }
        // Every AC symbol a block can need: run 0..=15 with size 1..=10, EOB and ZRL.
        for spec in [&LUMA_AC, &CHROMA_AC] {
            let codes = Codes::new(spec);
            for run in 0..16 {
                for size in 1..=10 {
                    assert!(codes.len[run << 4 | size] > 0, "{:x}", run << 4 | size);
                }
            }
            assert!(codes.len[0] > 0 && codes.len[0xf0] > 0);
        }
    }

    #[test]
    fn the_aan_dct_matches_the_definition() {
        let mut block = [0f32; 64];
        for (i, v) in block.iter_mut().enumerate() {
            *v = ((i * 37 + 11) % 255) as f32 - 128.0;
        }
        let samples = block;
        fdct(&mut block);
        let c = |k: usize| if k == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
        for v in 0..8 {
            for u in 0..8 {
                let mut sum = 0.0;
                for y in 0..8 {
                    for x in 0..8 {
                        sum += f64::from(samples[y * 8 + x])
                            * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()
                            * ((2 * y + 1) as f64 * v as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                let exact = 0.25 * c(u) * c(v) * sum;
                let ours = f64::from(block[v * 8 + u]) / (8.0 * f64::from(AAN_SCALE[u]) * f64::from(AAN_SCALE[v]));
                assert!((exact - ours).abs() < 0.01, "({},{}) {} vs {}", u, v, exact, ours);
            }
        }
    }

    #[test]
    fn quality_scales_the_tables_like_libjpeg() {
        assert_eq!(scaled_table(&LUMA_Q, 50), LUMA_Q.map(|v| v as u8));
        assert_eq!(scaled_table(&LUMA_Q, 100), [1; 64]);
        assert_eq!(scaled_table(&LUMA_Q, 85)[0], 5); // 16 * 30 / 100 = 4.8
        assert_eq!(scaled_table(&CHROMA_Q, 1)[63], 255);
    }

    #[test]
    fn rgb_round_trips_through_a_decoder_at_every_size_and_quality() {
        for (w, h) in [(400, 300), (1, 1), (17, 9), (16, 16), (33, 70)] {
            let rgb = photo(w, h);
            let mut sizes = Vec::new();
            for quality in [100, 85, 50, 10] {
                let bytes = encode_rgb(&rgb, w as u32, h as u32, quality).unwrap();
                let img = decode(&bytes);
                assert_eq!((img.width(), img.height()), (w as u32, h as u32));
                let back = img.to_rgb8();
                let floor = match quality {
                    100 => 33.0,
                    85 => 28.0,
                    50 => 25.0,
                    _ => 20.0,
                };
                let p = psnr(&rgb, back.as_raw());
                assert!(p > floor || w * h < 64, "{}x{} q{}: {:.1} dB", w, h, quality, p);
                sizes.push(bytes.len());
            }
            assert!(sizes.windows(2).all(|s| s[0] >= s[1]), "{}x{}: {:?}", w, h, sizes);
        }
    }

    #[test]
    fn flat_colours_come_back_within_a_step() {
        for colour in [[0u8, 0, 0], [255, 255, 255], [200, 13, 90], [128, 128, 128]] {
            let rgb: Vec<u8> = std::iter::repeat(colour).take(24 * 20).flatten().collect();
            let back = decode(&encode_rgb(&rgb, 24, 20, 85).unwrap()).to_rgb8();
            for px in back.pixels() {
                for c in 0..3 {
                    assert!(px.0[c].abs_diff(colour[c]) <= 3, "{:?} came back as {:?}", colour, px.0);
                }
            }
        }
    }

    #[test]
    fn gray_round_trips_as_one_component() {
        let (w, h) = (61, 35);
        let gray: Vec<u8> = (0..w * h).map(|i| ((i % w) * 4 + (i / w)) as u8).collect();
        let bytes = encode_gray(&gray, w as u32, h as u32, 90).unwrap();
        let img = decode(&bytes);
        assert!(matches!(img, DynamicImage::ImageLuma8(_)));
        assert!(psnr(&gray, img.to_luma8().as_raw()) > 35.0);
    }

    #[test]
    fn sizes_a_jpeg_cannot_hold_are_refused() {
        assert!(encode_gray(&[0; 65_536], 1, 65_536, 85).unwrap_err().contains("65535"));
        assert!(encode_rgb(&[], 0, 0, 85).is_err());
        assert!(encode_rgb(&[0; 5], 1, 2, 85).is_err());
    }
}
