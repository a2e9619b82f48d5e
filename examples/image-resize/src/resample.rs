//! Lanczos3 resampling of 8-bit images, separable, with the weights of each output column and
//! row computed once and kept as 14-bit fixed-point integers (as libvips does), instead of the
//! `image` crate's per-pixel float path, which recomputes the kernel for every output pixel and
//! goes through 32-bit floats for every channel. It was the largest of the three steps of a
//! resize (decode, resample, encode); see README.md, "Speed".
//!
//! The weights are the `image` crate's (same kernel, support, centre and edge clamping), so the
//! output matches `resize_exact(…, Lanczos3)` to within rounding: the tests allow a difference
//! of 2 per channel.

const BITS: u32 = 14;
const ONE: i32 = 1 << BITS;
/// The first (vertical) pass keeps 2 bits below the 8-bit value (and values outside 0..255,
/// which Lanczos' negative lobes make), so the second rounds once.
const MID_BITS: u32 = 2;

/// The taps of one output sample: the first input index and one weight per input from there.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let a = x * std::f64::consts::PI;
        a.sin() / a
    }
}

fn lanczos3(x: f64) -> f64 {
    if x.abs() < 3.0 {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// The taps of every output sample along one axis, `src` input samples to `dst` outputs.
fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let ratio = src as f64 / dst as f64;
    let scale = ratio.max(1.0);
    let support = 3.0 * scale;
    (0..dst)
        .map(|out| {
            let centre = (out as f64 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, src as i64 - 1) as usize;
            let right = ((centre + support).ceil() as i64).clamp(left as i64 + 1, src as i64) as usize;
            let centre = centre - 0.5;
            let raw: Vec<f64> = (left..right).map(|i| lanczos3((i as f64 - centre) / scale)).collect();
            let sum: f64 = raw.iter().sum();
            let mut weights: Vec<i32> = raw.iter().map(|w| (w / sum * f64::from(ONE)).round() as i32).collect();
            // Rounding may leave the sum a unit or two off ONE: give the difference to the
            // largest weight, so a flat image stays exactly flat.
            let off = ONE - weights.iter().sum::<i32>();
            if let Some(max) = weights.iter_mut().max_by_key(|w| **w) {
                *max += off;
            }
            Taps { start: left, weights }
        })
        .collect()
}

/// Resamples `pixels` (`width` × `height`, `channels` interleaved 8-bit samples per pixel) to
/// `new_width` × `new_height`.
pub fn lanczos3_resize(pixels: &[u8], width: usize, height: usize, channels: usize, new_width: usize, new_height: usize) -> Vec<u8> {
    assert_eq!(pixels.len(), width * height * channels);
    assert!(width > 0 && height > 0 && new_width > 0 && new_height > 0 && (1..=4).contains(&channels));
    // Vertical first: each output row is a weighted sum of whole input rows along contiguous
    // memory, so the pass over the larger image is the cheap kind. In wasm it runs 16 samples
    // at a time with every tap summed in SIMD registers (vertical_simd). Kept as i16 with
    // MID_BITS more bits.
    let rows = taps(height, new_height);
    let stride = width * channels;
    // 8 samples more than the rows: the horizontal pass loads 8 at a time (horizontal_simd).
    let mut mid = vec![0i16; new_height * stride + 8];
    let shift = BITS - MID_BITS;
    let bias = 1i32 << (shift - 1);
    for (t, dst) in rows.iter().zip(mid.chunks_exact_mut(stride)) {
        let src = &pixels[t.start * stride..(t.start + t.weights.len()) * stride];
        let done = vertical_simd(src, stride, &t.weights, bias, shift, dst);
        for x in done..stride {
            let sum: i32 = t.weights.iter().zip(src.chunks_exact(stride)).map(|(w, row)| w * i32::from(row[x])).sum();
            dst[x] = ((sum + bias) >> shift) as i16;
        }
    }
    // Horizontal: every output pixel sums its taps for all its channels at once, with the
    // channel count a constant so the inner loop unrolls (a loop over a runtime count of 3 did
    // not, and took most of the resample's time).
    let columns = taps(width, new_width);
    let mut out = vec![0u8; new_height * new_width * channels];
    match channels {
        1 => horizontal::<1>(&mid, width, &columns, &mut out),
        2 => horizontal::<2>(&mid, width, &columns, &mut out),
        3 => horizontal_simd::<3>(&mid, width, &columns, &mut out),
        _ => horizontal_simd::<4>(&mid, width, &columns, &mut out),
    }
    out
}

/// The vertical pass for one output row, 16 samples at a time with every tap summed in wasm
/// SIMD registers; answers how many samples it did (the rest are done one by one).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn vertical_simd(src: &[u8], stride: usize, weights: &[i32], bias: i32, shift: u32, dst: &mut [i16]) -> usize {
    use core::arch::wasm32::*;
    assert!(src.len() >= weights.len() * stride && dst.len() >= stride);
    let mut x = 0;
    while x + 16 <= stride {
        let (mut a0, mut a1, mut a2, mut a3) = (i32x4_splat(bias), i32x4_splat(bias), i32x4_splat(bias), i32x4_splat(bias));
        for (k, &w) in weights.iter().enumerate() {
            // SAFETY: k * stride + x + 16 <= weights.len() * stride <= src.len(), asserted above.
            let v = unsafe { v128_load(src.as_ptr().add(k * stride + x) as *const v128) };
            let (lo, hi) = (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v));
            let w = i32x4_splat(w);
            a0 = i32x4_add(a0, i32x4_mul(u32x4_extend_low_u16x8(lo), w));
            a1 = i32x4_add(a1, i32x4_mul(u32x4_extend_high_u16x8(lo), w));
            a2 = i32x4_add(a2, i32x4_mul(u32x4_extend_low_u16x8(hi), w));
            a3 = i32x4_add(a3, i32x4_mul(u32x4_extend_high_u16x8(hi), w));
        }
        let lo = i16x8_narrow_i32x4(i32x4_shr(a0, shift), i32x4_shr(a1, shift));
        let hi = i16x8_narrow_i32x4(i32x4_shr(a2, shift), i32x4_shr(a3, shift));
        // SAFETY: x + 16 <= stride <= dst.len(), asserted above.
        unsafe {
            v128_store(dst.as_mut_ptr().add(x) as *mut v128, lo);
            v128_store(dst.as_mut_ptr().add(x + 8) as *mut v128, hi);
        }
        x += 16;
    }
    x
}

/// Without wasm SIMD (native builds, the tests) every sample is done one by one.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn vertical_simd(_src: &[u8], _stride: usize, _weights: &[i32], _bias: i32, _shift: u32, _dst: &mut [i16]) -> usize {
    0
}

/// The horizontal pass for 3 or 4 channels in wasm SIMD: each step loads two neighbouring
/// pixels (8 samples), interleaves their channels ([r0 r1 g0 g1 b0 b1 ..]) and multiplies them
/// by their two weights with one `i32x4.dot_i16x8_s`, which leaves one partial sum per channel.
/// The same integer arithmetic as `horizontal`, so the same output to the bit.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn horizontal_simd<const C: usize>(mid: &[i16], width: usize, columns: &[Taps], out: &mut [u8]) {
    use core::arch::wasm32::*;
    assert!(C == 3 || C == 4);
    let stride = width * C;
    let out_stride = columns.len() * C;
    let rows = out.len() / out_stride;
    // Each load reads 8 samples from a tap's pixel: at most 8 - C past the row's last pixel,
    // which the caller's 8 spare samples cover for the last row (their weight is 0).
    assert!(mid.len() >= rows * stride + 8 && columns.iter().all(|t| t.start + t.weights.len() <= width));
    // The weights as i16 pairs, one vector per two taps (the last padded with 0), laid out like
    // the interleaved samples; `first[x]..first[x + 1]` are column x's.
    let mut pairs = Vec::new();
    let mut first = Vec::with_capacity(columns.len() + 1);
    for t in columns {
        first.push(pairs.len());
        for p in t.weights.chunks(2) {
            // Lanczos3 weights in 14 bits stay within ±2.0, so within i16.
            let (a, b) = (p[0] as i16, p.get(1).map_or(0, |w| *w as i16));
            pairs.push(if C == 3 { i16x8(a, b, a, b, a, b, 0, 0) } else { i16x8(a, b, a, b, a, b, a, b) });
        }
    }
    first.push(pairs.len());
    let shift = BITS + MID_BITS;
    let round = i32x4_splat(1 << (shift - 1));
    for (y, dst) in out.chunks_exact_mut(out_stride).enumerate() {
        let row = &mid[y * stride..];
        for (x, (t, px_out)) in columns.iter().zip(dst.chunks_exact_mut(C)).enumerate() {
            let mut acc = round;
            for (j, w) in pairs[first[x]..first[x + 1]].iter().enumerate() {
                // SAFETY: (t.start + 2j) * C + 8 <= (width - 1) * C + 8 <= row.len(), asserted above.
                let v = unsafe { v128_load(row.as_ptr().add((t.start + 2 * j) * C) as *const v128) };
                let v = if C == 3 { i16x8_shuffle::<0, 3, 1, 4, 2, 5, 6, 7>(v, v) } else { i16x8_shuffle::<0, 4, 1, 5, 2, 6, 3, 7>(v, v) };
                acc = i32x4_add(acc, i32x4_dot_i16x8(v, *w));
            }
            let acc = i32x4_shr(acc, shift);
            let lanes = [i32x4_extract_lane::<0>(acc), i32x4_extract_lane::<1>(acc), i32x4_extract_lane::<2>(acc), i32x4_extract_lane::<3>(acc)];
            for c in 0..C {
                px_out[c] = lanes[c].clamp(0, 255) as u8;
            }
        }
    }
}

/// Without wasm SIMD (native builds, the tests) the plain loop.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn horizontal_simd<const C: usize>(mid: &[i16], width: usize, columns: &[Taps], out: &mut [u8]) {
    horizontal::<C>(mid, width, columns, out)
}

/// The horizontal pass over `mid` (rows of `width` pixels of `C` channels, MID_BITS extra bits)
/// into `out` (rows of `columns.len()` pixels).
fn horizontal<const C: usize>(mid: &[i16], width: usize, columns: &[Taps], out: &mut [u8]) {
    let stride = width * C;
    let out_stride = columns.len() * C;
    let shift = BITS + MID_BITS;
    let round = 1i32 << (shift - 1);
    for (row, dst) in mid.chunks_exact(stride).zip(out.chunks_exact_mut(out_stride)) {
        for (t, px_out) in columns.iter().zip(dst.chunks_exact_mut(C)) {
            let mut sum = [round; C];
            let from = &row[t.start * C..(t.start + t.weights.len()) * C];
            for (w, px) in t.weights.iter().zip(from.chunks_exact(C)) {
                for c in 0..C {
                    sum[c] += w * i32::from(px[c]);
                }
            }
            for c in 0..C {
                px_out[c] = (sum[c] >> shift).clamp(0, 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;
    use image::{DynamicImage, RgbImage, RgbaImage};

    fn pattern(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let noise = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 24;
            image::Rgb([((x * 255) / w) as u8 ^ (noise as u8 & 31), ((y * 255) / h) as u8, ((x ^ y) & 255) as u8])
        })
    }

    fn max_difference(a: &[u8], b: &[u8]) -> u8 {
        a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
    }

    #[test]
    fn matches_the_image_crate_lanczos3_within_rounding() {
        for (w, h, nw, nh) in [(800, 600, 400, 300), (173, 91, 64, 20), (40, 30, 97, 61), (16, 16, 1, 1), (1, 9, 3, 2)] {
            let img = pattern(w, h);
            let ours = lanczos3_resize(img.as_raw(), w as usize, h as usize, 3, nw as usize, nh as usize);
            let theirs = DynamicImage::ImageRgb8(img).resize_exact(nw, nh, FilterType::Lanczos3).to_rgb8();
            assert_eq!(ours.len(), theirs.as_raw().len());
            let d = max_difference(&ours, theirs.as_raw());
            assert!(d <= 2, "{}x{} -> {}x{}: differs by {}", w, h, nw, nh, d);
        }
    }

    #[test]
    fn keeps_a_flat_image_exactly_flat_in_every_channel() {
        let img = RgbaImage::from_pixel(37, 23, image::Rgba([200, 13, 255, 0]));
        let out = lanczos3_resize(img.as_raw(), 37, 23, 4, 11, 50);
        assert!(out.chunks(4).all(|p| p == [200, 13, 255, 0]));
    }

    #[test]
    fn the_weights_of_every_sample_sum_to_one() {
        for (src, dst) in [(800, 400), (3, 7), (1000, 1), (5, 5)] {
            for t in taps(src, dst) {
                assert_eq!(t.weights.iter().sum::<i32>(), ONE);
                assert!(t.start + t.weights.len() <= src);
            }
        }
    }
}
